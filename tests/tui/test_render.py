"""The pure renderables, rendered to plain text: numbers, paging windows, strips, grids, panels."""

from __future__ import annotations

import numpy as np
import pytest
from rich.cells import cell_len

from stepper.scenario import load
from stepper.tui import panels
from stepper.tui.render import Grid, Strip, Window, number, plain, plus
from tests.tui.conftest import SCENARIOS


@pytest.mark.parametrize(("value", "width", "text"), [
    (0, 6, "0"), (9, 4, "+9"), (-27, 4, "-27"), (0.5, 6, "+0.500"), (-0.12345, 5, "-0.12"),
    (123.456, 5, "+123"), (20833.3, 5, "2.1e4"), (0.002, 5, "+2e-3"), (-3e-5, 5, "-3e-5"),
])
def test_number_fits_its_width_and_keeps_the_sign(value, width, text):
    out = number(value, width)
    assert len(out) == width
    assert out.strip() == text


def test_window_pages_are_aligned_and_the_last_is_full():
    assert (Window.around(0, 9, 128).start, Window.around(8, 9, 128).start) == (0, 0)
    assert Window.around(9, 9, 128).start == 9
    last = Window.around(127, 9, 128)
    assert (last.start, last.stop) == (119, 128)  # a full page, not the 2 leftover units
    assert Window.around(None, 9, 128, shift=1).label() == "9-17/128"


def test_window_covering_shows_a_whole_kernel_window_when_it_fits():
    w = Window.covering(8, 12, 5, 20)  # would straddle the pages 5-9 and 10-14
    assert w.start <= 8 and w.stop > 12
    assert Window.covering(0, 5, 5, 6).start == 0  # wider than the page: start at its first cell


def test_strip_aligns_cjk_labels_and_marks_unfilled_cells():
    row = Strip("h_1 你", np.array([0.5, -1.0, 2.0]), Window(0, 3, 3), cell=6, scale=2, label_width=8,
                text=lambda i: None if i < 2 else "·")
    line = plain(row).rstrip("\n")
    assert line.startswith("h_1 你")
    assert cell_len(line) == 8 + 3 * 7
    assert line.split()[-3:] == ["+0.500", "-1", "·"]


def test_grid_marks_padding_apart_from_data():
    x = np.arange(4.0).reshape(2, 2)
    grid = Grid(lambda r, c: "pad" if r < 0 or c < 0 else x[r, c], range(-1, 2), range(-1, 2), cell=3)
    lines = plain(grid).splitlines()
    assert lines[0].split() == ["0·", "0·", "0·"]
    assert lines[2].split() == ["0·", "+2", "+3"]


def test_plus_reads_negative_terms_as_subtraction():
    assert plus("1", "-2", "3") == "1 - 2 + 3"


def test_panels_shapes_lists_the_lecture_parameters():
    text = panels.shapes(load(str(SCENARIOS / "rnn_chinese.yaml"))).plain
    assert "total 49,280 params" in text
    assert "U 256x128 = 32,768" in text and "W 128x128 = 16,384" in text and "b 128 = 128" in text


def test_panels_position_counts_from_one():
    assert panels.position(0, 3, "rnn", 4, 64, "bias") == "layer 1/3 rnn · step 5/64 · bias"


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_panels_header_fills_the_width_and_cuts_only_the_title(width):
    title = "RNN over 你个扑该! - five characters, five time steps, 256 -> 128"  # CJK: two cells each
    where = "layer 1/1 rnn · step 12/20 · act"
    text = panels.header(title, where, width)
    assert text.cell_len == width
    assert text.plain.endswith(f" {where} ")
    if width < 1 + cell_len(title) + len(where) + 2:
        assert "…" in text.plain and text.plain.startswith(" RNN over 你个")
    else:
        assert text.plain.startswith(f" {title}") and "…" not in text.plain
