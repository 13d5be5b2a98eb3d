"""The transposed-convolution view, driven with Textual's Pilot: what each step shows, in words a test can read.

Every screen labels its input and its output; the scattering value and its copy's footprint are lit;
the cropped border is marked; the live formulas carry this layer's numbers; c shows another input
channel's contributions; Right then Left and End then Home restore the screen.
"""

from __future__ import annotations

import textwrap

import pytest

from stepper.scenario import load
from stepper.tui import create_app
from tests.tui.conftest import screen_text

CHANNELS = """
    title: Two channels in, two out
    seed: 3
    input: {random: {shape: [2, 3, 3]}}
    layers:
      - type: conv_transpose2d
        kernel_size: 2
        out_channels: 2
        stride: 2
        padding: 1
    """


def app_for(tmp_path, text: str):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    app = create_app(load(str(path)), screenshot_dir=tmp_path)
    app.animation_level = "none"
    return app


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_conv_transpose_view_labels_input_and_output_at_every_step(make_app, size):
    app = make_app("conv_transpose_upsample.yaml")
    async with app.run_test(size=size) as pilot:
        for k in range(len(app.pipeline)):
            app.go(k)
            await pilot.pause()
            text = screen_text(app)
            assert "INPUT x" in text and "OUTPUT y  6x6, drawn uncropped 7x7" in text, text
            assert "H' = W' = (3-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 6" in text
            assert "✂ cropped: 1 top, 0 bottom, 1 left, 0 right" in text


async def test_conv_transpose_view_scatter_then_sum_with_live_numbers(make_app):
    app = make_app("conv_transpose_upsample.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "x[0,0] = 4: the copy 4 × K lands on rows -1..1, cols -1..1 (✂ partly cropped)" in text
        assert "copy = 4 × K" in text and "kernel K" in text
        assert "lit: where this copy lands" in text
        app.go(10)  # y[0,1]: half of x[0,1] and half of x[0,0]
        await pilot.pause()
        text = screen_text(app)
        assert "y[0,1] = 8*0.5 + 4*0.5 = 6; + bias 0 = 6" in text
        assert "landed on y[0,1]" in text and "x[0,1]·K[1,0] = +4" in text and "x[0,0]·K[1,2] = +2" in text
        assert "step 11/45 · sum + bias" in text


async def test_conv_transpose_view_cells_fill_in_as_copies_land(make_app):
    app = make_app("conv_transpose_upsample.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = screen_text(app)
        app.go(8)
        await pilot.pause()
        last = screen_text(app)
    count = lambda text: sum(line.count("·") for line in text.splitlines()[4:14])  # noqa: E731
    assert count(first) > count(last) == 0  # dots where no copy has landed yet; none once all have


async def test_conv_transpose_view_c_shows_another_input_channel_when_summing(tmp_path):
    app = app_for(tmp_path, CHANNELS)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "INPUT x ch 1/2" in screen_text(app) and "OUTPUT y ch 1/2" in screen_text(app)
        app.go(2 * 9)  # the first output value of channel 1: both input channels' copies landed on it
        await pilot.pause()
        before = screen_text(app)
        assert "INPUT x ch 1/2" in before and "kernel K[1→1]" in before
        await pilot.press("c")
        after = screen_text(app)
        assert "INPUT x ch 2/2" in after and "kernel K[2→1]" in after
        app.go(len(app.pipeline) - 1)
        await pilot.pause()
        assert "OUTPUT y ch 2/2" in screen_text(app)


@pytest.mark.parametrize("keys", [("right", "left"), ("end", "home"), ("shift+right", "shift+left")])
async def test_conv_transpose_view_moves_back_to_exactly_the_same_screen(make_app, keys):
    app = make_app("conv_transpose_upsample.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = screen_text(app)
        await pilot.press(keys[0])
        await pilot.pause()
        assert screen_text(app) != before
        await pilot.press(keys[1])
        await pilot.pause()
        assert screen_text(app) == before


async def test_conv_transpose_view_beside_a_convolution_on_the_same_input(tmp_path):
    app = app_for(tmp_path, """
        title: Down and up
        input: {array: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
        layers:
          - compare:
              - type: conv2d
                kernel: [[1, 1], [1, 1]]
              - type: conv_transpose2d
                kernel: [[1, 1], [1, 1]]
        """)
    async with app.run_test(size=(160, 40)) as pilot:
        app.go(len(app.pipeline) - 1)
        await pilot.pause()
        text = screen_text(app)
        assert "conv_transpose2d  ▶ stepping" in text and "conv2d  same stage" in text
        assert "OUTPUT y  4x4, drawn uncropped 4x4" in text and "no padding: nothing is cropped" in text


def test_conv_transpose_view_formula_where_stride_leaves_gaps(tmp_path):
    from stepper.tui.base import Context
    from stepper.tui.conv_transpose_view import ConvTransposeView

    app = app_for(tmp_path, """
        title: Gaps
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: conv_transpose2d
            kernel: [[2]]
            bias: 0.5
            stride: 3
        """)
    pipeline = app.pipeline
    trace = pipeline.traces[0]
    formula = lambda k: ConvTransposeView.formula(Context(pipeline, 0, trace[k]))  # noqa: E731
    assert formula(1) == ("x[0,1] = 2: the copy 2 × K lands on rows 0..0, cols 3..3",
                          "H' = W' = (2-1)*3 - 2*0 + 1*(1-1) + 0 + 1 = 4")
    assert formula(4 + 1)[0] == "y[0,1]: no copy lands here, so 0 + bias 0.5 = 0.5"
    assert formula(4 + 3)[0] == "y[0,3] = 2*2 = 4; + bias 0.5 = 4.5"


async def test_conv_transpose_view_at_the_smallest_size_keeps_labels_and_output_rows(make_app):
    """60x18 leaves the view eight rows: the notes under the output give way, the grid keeps its rows."""
    app = make_app("conv_transpose_upsample.yaml")
    async with app.run_test(size=(60, 18)) as pilot:
        for k in (0, 4, 8, 9, 44):
            app.go(k)
            await pilot.pause()
            text = screen_text(app)
            assert "INPUT x" in text and "OUTPUT y" in text and "✂ cropped: 1 top" in text, text
            lines = text.splitlines()
            at = next(line.index("OUTPUT y") for line in lines if "OUTPUT y" in line)
            labels = [line[at : at + 3].strip() for line in lines[5:12]]  # the output's row labels
            assert sum(label.isdigit() or label == "✂" for label in labels) >= 3, text


async def test_conv_transpose_view_quiz_hides_the_output_value_in_the_grid_and_the_formula(tmp_path):
    from stepper.scenario import load as load_scenario

    from tests.tui.conftest import SCENARIOS

    app = create_app(load_scenario(str(SCENARIOS / "conv_transpose_upsample.yaml")), screenshot_dir=tmp_path,
                     quiz=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.question is None  # a scatter step lands a whole copy: it asks nothing
        app.go(10)  # y[0,1] = 8*0.5 + 4*0.5 = 6
        await pilot.pause()
        assert app.question == 10
        text = screen_text(app)
        assert "y[0,1] = 8*0.5 + 4*0.5 = ?; + bias 0 = ?" in text
        (row,) = [" ".join(line.split()) for line in text.splitlines()[4:18] if "?" in line]
        assert row.endswith("0 +2 +4 ? 4 0 0"), row  # output row 0: ✂'d +2, y[0,0] = 4, the hidden y[0,1]...
