"""An (N, C, ...) batch drawn as blocks, rendered to plain text: numbers with channel boundaries where
they fit, one glyph per value where they do not, and the channels paged around the lit ones."""

from __future__ import annotations

import numpy as np

from stepper.tui.blocks import as_blocks, block_rows, fit
from stepper.tui.render import Window, plain


def drawn(values, lit, layout, bands=None) -> list[str]:
    bands = bands or Window(0, values.shape[0], values.shape[0])
    fresh = np.ones(values.shape, dtype=bool)
    return [plain(row).rstrip("\n").rstrip() for row in block_rows(values, lit, fresh, layout, bands)]


def test_blocks_print_numbers_with_a_band_per_sample_and_a_block_per_channel():
    x = np.arange(2 * 2 * 1 * 2, dtype=float).reshape(2, 2, 1, 2)  # (N, C, H, W)
    lit = np.zeros(x.shape, dtype=bool)
    layout = fit(x.shape, 80, 3, focus=0)
    assert layout.numbers and layout.channels.label() == "2"
    assert drawn(x, lit, layout) == ["  │c1     │c2", "n1│  0  +1│ +2  +3", "n2│ +4  +5│ +6  +7"]


def test_blocks_narrow_become_glyphs_that_say_what_is_lit_without_colour():
    x = np.zeros((2, 4, 2, 3))
    lit = np.zeros(x.shape, dtype=bool)
    lit[:, 1] = True  # BatchNorm's second channel: every sample, every position
    layout = fit(x.shape, 18, 5, focus=1)
    assert not layout.numbers and layout.cell == 1
    assert drawn(x, lit, layout) == ["   c1  c2  c3  c4", "n1 ··· ■■■ ··· ···", "   ··· ■■■ ··· ···",
                                     "n2 ··· ■■■ ··· ···", "   ··· ■■■ ··· ···"]


def test_blocks_page_the_channels_around_the_lit_ones():
    x = np.zeros((1, 8, 1, 3))
    layout = fit(x.shape, 40, 5, focus=6)  # numbers: two channels of three cells fit in 40 columns
    assert layout.numbers and (layout.channels.start, layout.channels.stop) == (6, 8)
    assert drawn(x, np.zeros(x.shape, dtype=bool), layout)[0].split() == ["│c7", "│c8"]


def test_blocks_take_every_rank_a_norm_over_channels_takes():
    assert as_blocks(np.zeros((2, 3))).shape == (2, 3, 1, 1)
    assert as_blocks(np.zeros((2, 3, 5))).shape == (2, 3, 1, 5)
    assert as_blocks(np.zeros((2, 3, 4, 5))).shape == (2, 3, 4, 5)
