"""Quiz and breakpoint screens as SVG snapshots (pytest-textual-snapshot), as in test_snapshots.py.

A quiz question (the `?` in its cell and formula, the input on it, the narration asking) in an RNN
and a convolution, and with its cell paged out of view, the reveal after a right and after a wrong answer, the header with breakpoints set with b
(at a step where one fires), and the palette's list of breakpoints.

    uv run pytest tests/tui/test_snapshots_quiz.py                    # compare
    uv run pytest tests/tui/test_snapshots_quiz.py --snapshot-update  # accept the screens as they are now
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from stepper.scenario import load
from stepper.tui import create_app
from stepper.tui.quiz import Prediction

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

BREAKPOINTS = """
    title: An RNN with breakpoints
    seed: 7
    input: {text: "你个扑该!", embed: 6}
    layers:
      - type: rnn
        hidden: 8
        breakpoints: [3, {when: t == 4 and step > 14}, {when: "max(abs(h_t)) > 0.9"}]
"""


def make_app(path: Path | str, quiz: bool = False):
    app = create_app(load(str(path)), quiz=quiz)
    app.animation_level = "none"  # no transitions half-way through a screenshot
    return app


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "breakpoints.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def at_question(k: int, *keys: str):
    """A run_before hook: go to global step k, let the input settle on the `?`, then press ``keys``."""

    async def go(pilot) -> None:
        await pilot.pause()
        pilot.app.go(k)
        await pilot.pause()
        await pilot.pause()
        assert pilot.app.screen.query_one(Prediction).cursor_blink is False  # animations off: a steady cursor
        await pilot.press(*keys)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    return go


def test_quiz_question_rnn(snap_compare):
    """h_3[0] hidden in the h_t row, the unrolled h_3 and the formula; the input sits on its cell."""
    app = make_app(SCENARIOS / "rnn_chinese.yaml", quiz=True)
    assert snap_compare(app, terminal_size=(100, 30), run_before=at_question(11))


def test_quiz_question_typed_conv(snap_compare):
    """A convolution's output cell y[0,2,1] and its sum hidden, a prediction half typed."""
    app = make_app(SCENARIOS / "conv_edges.yaml", quiz=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_question(13, "minus", "2"))


def test_quiz_question_off_the_page_waits_beside_the_formula(snap_compare):
    """h_3[0] paged out of view with ] (which works while a question waits): the input waits beside
    the formula instead."""
    app = make_app(SCENARIOS / "rnn_chinese.yaml", quiz=True)
    assert snap_compare(app, terminal_size=(100, 30), run_before=at_question(11, "right_square_bracket"))


def test_quiz_reveal_right(snap_compare):
    """Right within the tolerance: the value, how far off, the formula as the explanation, score 1/1."""
    app = make_app(SCENARIOS / "conv_edges.yaml", quiz=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_question(13, *"-35", "enter"))


def test_quiz_reveal_wrong(snap_compare):
    app = make_app(SCENARIOS / "dropout_textbook.yaml", quiz=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_question(5, "6", "enter"))


def test_breakpoints_in_the_header(snap_compare, tmp_path):
    """Two set with b, and the file's condition firing at this step: `● break · b 2 7`."""

    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("right", "b", "end", "b")
        pilot.app.go(6)
        await pilot.press("b", "n")
        pilot.app.clear_notifications()
        await pilot.pause()

    app = make_app(written(tmp_path, BREAKPOINTS))
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_breakpoints_listed_in_the_palette(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("right", "b", "end", "b")
        pilot.app.clear_notifications()
        pilot.app.action_breakpoints()
        await pilot.pause()

    app = make_app(written(tmp_path, BREAKPOINTS))
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
