"""An (N, C, ...) batch drawn small: a band of rows per sample, a block per channel.

Sample n's channels stand side by side (│ marks where one begins), each an H x W block of its
positions (an (N, C, L) batch has blocks one row high, an (N, C) batch blocks of one cell), so the
values one statistic is taken over are seen at once: a channel's blocks down every band
(BatchNorm), one block (InstanceNorm), neighbouring blocks of one band (GroupNorm), one row of each
block (LayerNorm over the last axis).

With room, every cell prints its number. Narrow (a member of a four-way compare), a cell is one or
two characters: ■ for the values the current statistic is taken over, · for the rest, coloured by
value; the glyphs alone say which is which, so nothing depends on colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.style import Style

from stepper.tui.render import BOLD, DIM, MARK, Piece, Row, Window, colour, number, scale_of

LIT_GLYPH, GLYPH = "■", "·"
HEAD = Style(dim=True)


def as_blocks(a: np.ndarray) -> np.ndarray:
    """(N, C), (N, C, L) or (N, C, H, W) as (N, C, H, W)."""
    if a.ndim == 2:
        return a[:, :, None, None]
    if a.ndim == 3:
        return a[:, :, None, :]
    return a


@dataclass(frozen=True)
class Fit:
    """How the batch fits a width: a cell's width, whether it prints numbers, and the channels shown."""

    cell: int
    numbers: bool
    channels: Window
    label: int

    def block_width(self, w: int) -> int:
        return w * (self.cell + 1) if self.numbers else w * self.cell + 1


def fit(shape: tuple[int, ...], width: int, cell: int, focus: int, pan: int = 0) -> Fit:
    """Numbers when every channel fits (or at least two do); else glyphs of two cells, then of one."""
    n, c, _, w = shape
    label = len(f"n{n}")
    for numbers, size in ((True, cell), (False, 2), (False, 1)):
        per = Fit(size, numbers, Window(0, c, c), label).block_width(w)
        count = max((width - label) // per, 1)
        if count >= c or (numbers and count >= min(c, 2)) or size == 1:
            return Fit(size, numbers, Window.around(focus, count, c, pan), label)
    raise AssertionError("unreachable")


def block_rows(values: np.ndarray, lit: np.ndarray, fresh: np.ndarray, layout: Fit, bands: Window) -> list[Row]:
    """The header of channel names and one row per (sample, position row) of the bands shown.

    ``values`` (N, C, H, W) are the numbers drawn; ``lit`` marks the current statistic's members;
    cells where ``fresh`` is False are drawn dim, without colour (not yet reached by this phase)."""
    _, _, h, w = values.shape
    chans = range(layout.channels.start, layout.channels.stop)
    scale = max(scale_of(values[fresh]), 1e-12) if fresh.any() else 1.0
    head: list[Piece] = [(" " * layout.label, None)]
    for c in chans:
        name = f"{'│' if layout.numbers else ' '}c{c + 1}"
        head.append((name.ljust(layout.block_width(w))[: layout.block_width(w)], HEAD))
    rows = [Row(head)]
    for n in range(bands.start, bands.stop):
        for r in range(h):
            pieces: list[Piece] = [((f"n{n + 1}" if r == 0 else "").ljust(layout.label), BOLD)]
            for c in chans:
                if not layout.numbers:
                    pieces.append((" ", None))
                for x in range(w):
                    at = (n, c, r, x)
                    if layout.numbers:
                        pieces.append(("│" if x == 0 else " ", DIM))
                    pieces.append(cell(values[at], bool(lit[at]), bool(fresh[at]), layout, scale))
            rows.append(Row(pieces))
    return rows


def cell(v: float, lit: bool, fresh: bool, layout: Fit, scale: float) -> Piece:
    if not layout.numbers:
        glyph = (LIT_GLYPH if lit else GLYPH) * layout.cell
        return glyph, (MARK if lit else (colour(v, scale) if fresh else DIM))
    text = number(v, layout.cell)
    if lit:
        return text, (colour(v, scale) if fresh else Style()) + MARK
    return text, colour(v, scale) if fresh else DIM
