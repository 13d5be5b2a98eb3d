"""Every screen as an SVG snapshot (pytest-textual-snapshot), named by layer family.

Each bundled scenario is shot at its first, middle and last step at 80x24, and at its first step at
120x40; then the help screen, the too-small message, the BatchNorm/LayerNorm compare view and a
dropout resample. The app is built by the one factory with animations off; nothing on screen reads a
clock or an unseeded random number, so the suite passes in any order, any number of times.

    uv run pytest tests/tui/test_snapshots.py                    # compare
    uv run pytest tests/tui/test_snapshots.py --snapshot-update  # accept the screens as they are now

A mismatch writes snapshot_report.html in the folder pytest ran from: open it in a browser to see the
stored and the new screen side by side.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pytest_textual_snapshot import normalize_svg
from textual._doc import take_svg_screenshot

from stepper.scenario import load
from stepper.tui import create_app

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SNAPSHOTS = Path(__file__).parent / "__snapshots__" / Path(__file__).stem

# Every bundled scenario, with the layer families it shows (the test ids start with them).
FAMILIES = {
    "rnn_chinese": "rnn",
    "lstm_chinese": "lstm",
    "gru_chinese": "gru",
    "conv_edges": "conv",
    "conv_dilated": "conv",
    "conv1d_text": "conv",
    "pooling": "conv",
    "conv_transpose_upsample": "conv_transpose",
    "norm_compare": "norm",
    "norm_family": "norm",
    "rmsnorm_vs_layernorm": "norm",
    "batchnorm_train_eval": "norm",
    "batchnorm_one_example": "norm",
    "dropout_textbook": "dropout",
    "pipeline": "rnn-norm-dropout",
}
WHERE = {"first": lambda n: 0, "middle": lambda n: n // 2, "last": lambda n: n - 1}
CASES = [(name, where, (80, 24)) for name in FAMILIES for where in WHERE] + \
        [(name, "first", (120, 40)) for name in FAMILIES]


def make_app(path: Path | str):
    app = create_app(load(str(path)))
    app.animation_level = "none"  # no transitions half-way through a screenshot
    return app


def at_step(k: int):
    """A run_before hook: once the first screen is drawn, move the app to global step k and let it draw.
    (Moving before the first pause can reach a compare view whose members are not composed yet.)"""

    async def go(pilot) -> None:
        await pilot.pause()
        pilot.app.go(k)
        await pilot.pause()

    return go


def case_id(case) -> str:
    name, where, (cols, rows) = case
    return f"{FAMILIES[name]}-{name}-{where}-{cols}x{rows}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_scenario_screen(snap_compare, case):
    """One bundled scenario at its first, middle or last step."""
    name, where, size = case
    app = make_app(SCENARIOS / f"{name}.yaml")
    k = WHERE[where](len(app.pipeline))
    assert snap_compare(app, terminal_size=size, run_before=at_step(k))


def test_snapshots_cover_every_bundled_scenario():
    assert sorted(FAMILIES) == sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def test_rnn_help_screen(snap_compare):
    """? opens the key help over the scenario."""
    assert snap_compare(make_app(SCENARIOS / "rnn_chinese.yaml"), press=["question_mark"], terminal_size=(80, 24))


def test_rnn_help_screen_120x40(snap_compare):
    assert snap_compare(make_app(SCENARIOS / "rnn_chinese.yaml"), press=["question_mark"], terminal_size=(120, 40))


def test_conv_too_small_message(snap_compare):
    """Below 60x18 the app says how large the terminal must be instead of drawing a broken screen."""
    assert snap_compare(make_app(SCENARIOS / "conv_edges.yaml"), terminal_size=(50, 15))


def test_norm_compare_view_layernorm_stepping(snap_compare):
    """BatchNorm and LayerNorm side by side while LayerNorm is stepped; BatchNorm follows at the same stage."""
    app = make_app(SCENARIOS / "norm_compare.yaml")
    k = app.pipeline.start(1) + len(app.pipeline.traces[1]) // 2
    assert snap_compare(app, terminal_size=(120, 40), run_before=at_step(k))


def test_dropout_resample(snap_compare):
    """r draws fresh coins (seeded by the scenario and the sample number): two samples in the tally."""
    app = make_app(SCENARIOS / "dropout_textbook.yaml")
    assert snap_compare(app, press=["r"], terminal_size=(80, 24), run_before=at_step(len(app.pipeline) - 1))


def test_dropout_resample_three_times(snap_compare):
    app = make_app(SCENARIOS / "dropout_textbook.yaml")
    assert snap_compare(app, press=["r", "r", "r"], terminal_size=(80, 24),
                        run_before=at_step(len(app.pipeline) - 1))


def test_dropout_eval_mode(snap_compare):
    """e switches the dropout layer to eval mode: the identity."""
    assert snap_compare(make_app(SCENARIOS / "dropout_textbook.yaml"), press=["e"], terminal_size=(80, 24))


# --- the snapshots can fail -----------------------------------------------------------------------


def test_snapshot_comparison_reports_a_changed_number(tmp_path, request):
    """The stored snapshot of conv_edges' first step matches a copy of the file, and stops matching
    when one input pixel under the first window changes from 9 to 7."""
    if request.config.getoption("--snapshot-update"):
        pytest.skip("the stored snapshots are being rewritten in this run")
    stored_path = SNAPSHOTS / "test_scenario_screen[conv-conv_edges-first-80x24].svg"
    assert stored_path.exists(), "run `uv run pytest tests/tui/test_snapshots.py --snapshot-update` first"
    stored = normalize_svg(stored_path.read_text(encoding="utf-8"))  # what the SVG snapshot extension compares

    copy = tmp_path / "conv_edges.yaml"
    shutil.copy(SCENARIOS / "conv_edges.yaml", copy)
    same = normalize_svg(take_svg_screenshot(make_app(copy), terminal_size=(80, 24)))
    assert same == stored

    text = copy.read_text(encoding="utf-8")
    row = "- [0, 0, 9, 9, 9, 9, 0, 0]"
    changed = text.replace(row, "- [0, 0, 7, 9, 9, 9, 0, 0]", 1)
    assert changed != text
    copy.write_text(changed, encoding="utf-8")
    shot = normalize_svg(take_svg_screenshot(make_app(copy), terminal_size=(80, 24)))
    assert shot != stored
    # the difference is the number itself: +7 is drawn where +9 was
    assert "+7" in drawn(shot) and "+7" not in drawn(stored)


def drawn(svg: str) -> str:
    """The characters an SVG screenshot shows, without its markup."""
    return re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")
