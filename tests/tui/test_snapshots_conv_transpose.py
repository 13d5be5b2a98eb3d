"""The transposed-convolution screens as SVG snapshots (pytest-textual-snapshot), as in test_snapshots.py.

test_snapshots.py shoots the bundled scenario at its first, middle and last step; here it is also shot
where copies overlap, at its last scatter and at its first sums (80x24), and where copies overlap and at
its last scatter at 120x40; then two scenarios written here: channels in and out with the c key pressed
while summing, and a large dilated kernel whose output is paged around the copy.

    uv run pytest tests/tui/test_snapshots_conv_transpose.py                    # compare
    uv run pytest tests/tui/test_snapshots_conv_transpose.py --snapshot-update  # accept the screens as they are now
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.tui.test_snapshots import SCENARIOS, at_step, make_app

SCENARIO = SCENARIOS / "conv_transpose_upsample.yaml"
STEPS = {"overlap": 4, "last-scatter": 8, "sums": 10}
CASES = [(where, (80, 24)) for where in STEPS] + [(where, (120, 40)) for where in ("overlap", "last-scatter")]

CHANNELS = """
    title: Two channels in, three out, cropped on every side
    seed: 3
    input: {random: {shape: [2, 3, 4]}}
    layers:
      - type: conv_transpose2d
        kernel_size: [3, 2]
        out_channels: 3
        stride: [2, 3]
        padding: [2, 1]
        output_padding: [0, 2]
    """
LARGE = """
    title: A dilated 4x4 kernel over a 12x12 input
    seed: 2
    input: {random: {shape: [12, 12]}}
    layers:
      - type: conv_transpose2d
        kernel_size: 4
        stride: 3
        padding: 2
        output_padding: 1
        dilation: 2
    """


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"conv_transpose-upsample-{c[0]}-{c[1][0]}x{c[1][1]}")
def test_conv_transpose_screen(snap_compare, case):
    where, size = case
    assert snap_compare(make_app(SCENARIO), terminal_size=size, run_before=at_step(STEPS[where]))


def test_conv_transpose_channels_second_input_channel_while_summing(snap_compare, tmp_path):
    """Output channel 2's third value: c shows what input channel 2 sent it."""
    app = make_app(written(tmp_path, CHANNELS))
    trace = app.pipeline.traces[0]
    k = trace.per_channel + trace.scatters + 2
    assert snap_compare(app, press=["c"], terminal_size=(80, 24), run_before=at_step(k))


def test_conv_transpose_large_dilated_kernel_paged_around_the_copy(snap_compare, tmp_path):
    assert snap_compare(make_app(written(tmp_path, LARGE)), terminal_size=(80, 24), run_before=at_step(70))
