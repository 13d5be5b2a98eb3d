"""Pure renderables: numbers as value-coloured cells, vectors as strips, matrices as grids.

Colour is a diverging map (blue below zero, red above), but every cell also prints its signed
number, so the meaning survives 16 colours, a projector and NO_COLOR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

NEG = (33, 102, 172)
POS = (178, 24, 43)
MID = (240, 240, 240)
EMPTY = "·"
MARK = Style(bold=True, underline=True, color="black", bgcolor="rgb(255,220,0)")  # underline survives NO_COLOR
HIDDEN = "?"  # a number hidden until the user predicts it (stepper.tui.hiding): not-a-number in the views' arrays


def number(v: float, width: int = 6) -> str:
    """A signed number in at most ``width`` characters: +0.123, -12.5, +9, +3e-05."""
    v = float(v)
    if v != v:
        return HIDDEN.rjust(width)
    if not np.isfinite(v):
        return f"{v:>{width}}"[:width]
    if v == 0:
        return "0".rjust(width)
    if v.is_integer() and abs(v) < 10 ** (width - 1):
        return f"{int(v):+d}".rjust(width)
    for digits in range(max(width - 3, 0), -1, -1):
        text = f"{v:+.{digits}f}"
        if len(text) <= width:
            if float(text) != 0:
                return text.rjust(width)
            break
    for digits in (2, 1, 0):  # scientific: +2.1e4, 2.1e4 (the + goes first when space is short), -3e-5
        text = f"{v:.{digits}e}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
        if v > 0 and len(text) < width:
            text = "+" + text
        if len(text) <= width:
            return text.rjust(width)
    return text[:width]


PALETTE = {"ansi": False}  # set by the app from its theme: ANSI themes use the terminal's own 16 colours

ANSI_STEPS = ((0.5, "white", "blue", "red"), (0.15, "black", "bright_cyan", "bright_magenta"))


LEVELS = 48  # colour steps on each side of zero: finer than the eye can tell apart in a cell


def colour(v: float, scale: float) -> Style:
    """Background from the diverging map, with a foreground that stays readable on it."""
    if scale <= 0 or not np.isfinite(v):
        level = 0
    else:
        level = round(max(-1.0, min(1.0, v / scale)) * LEVELS)
    return _colour(level, PALETTE["ansi"])


@lru_cache(maxsize=4 * LEVELS + 4)
def _colour(level: int, ansi: bool) -> Style:
    t = level / LEVELS
    if ansi:
        for bound, fg, neg, pos in ANSI_STEPS:
            if abs(t) >= bound:
                return Style(color=fg, bgcolor=pos if t > 0 else neg)
        return Style()
    end = POS if t > 0 else NEG
    a = abs(t) ** 0.8
    rgb = tuple(int(m + (e - m) * a) for m, e in zip(MID, end))
    light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140
    return Style(color="black" if light else "white", bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})")


def scale_of(values: np.ndarray) -> float:
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else 0.0


@dataclass
class Window:
    """Which slice of a long axis is shown: ``start`` and ``count`` of ``total``."""

    start: int
    count: int
    total: int

    @property
    def stop(self) -> int:
        return min(self.start + self.count, self.total)

    def label(self) -> str:
        if self.count >= self.total:
            return f"{self.total}"
        return f"{self.start}-{self.stop - 1}/{self.total}"

    @classmethod
    def around(cls, focus: int | None, count: int, total: int, shift: int = 0) -> Window:
        """The page holding ``focus`` (page-aligned, so the same focus gives the same page), moved
        by ``shift`` pages."""
        count = max(1, min(count, total))
        pages = max(1, -(-total // count))
        page = (focus // count if focus is not None else 0) + shift
        page = min(max(page, 0), pages - 1)
        return cls(min(page * count, total - count), count, total)  # the last page is a full one too


    @classmethod
    def covering(cls, lo: int, hi: int, count: int, total: int, shift: int = 0) -> Window:
        """The page holding lo..hi when one does; otherwise a slice centred on them. Either way a
        function of lo and hi alone, so stepping back redraws the same slice."""
        count = max(1, min(count, total))
        page = cls.around(lo, count, total)
        if hi >= page.stop:
            start = min(max(lo - max(count - (hi - lo + 1), 0) // 2, 0), total - count)
            page = cls(start, count, total)
        if shift:
            start = min(max(page.start + shift * count, 0), max(total - count, 0))
            page = cls(start, count, total)
        return page


BOLD = Style(bold=True)
DIM = Style(dim=True)
LIT = Style(reverse=True, bold=True)
Piece = tuple[str, Style | None]


class Row:
    """One line of (text, style) pieces already laid out: drawn without Rich's wrapping machinery,
    which is what keeps a step cheap."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces

    def rows(self) -> list[list[Segment]]:
        return [[Segment(text, style) for text, style in self.pieces]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text.assemble(*self.pieces, no_wrap=True)


class Strip(Row):
    """One labelled row of value cells: `x_t  +0.12 -1.30 ...`."""

    def __init__(self, label: str, values: np.ndarray | None, window: Window, *, cell: int = 6,
                 scale: float = 1.0, label_width: int = 8, mark: Callable[[int], bool] | None = None,
                 text: Callable[[int], str | None] | None = None) -> None:
        pieces: list[Piece] = [(pad_cells(label, label_width), BOLD)]
        for i in range(window.start, window.stop):
            pieces.append((" ", None))
            pieces.append(cell_piece(values, i, cell, scale, text, bool(mark and mark(i))))
        super().__init__(pieces)


def cell_piece(values: np.ndarray | None, i, width: int, scale: float,
               text: Callable | None = None, marked: bool = False) -> Piece:
    """One cell: the number with its colour, a caller's text, or a dim dot where nothing is computed yet."""
    if text is not None:
        content = text(i)
        if content is not None:
            return content.rjust(width)[:width], (LIT if marked else None)
    if values is None:
        return EMPTY.rjust(width), DIM
    v = float(values[i])
    if v != v:
        return HIDDEN.rjust(width), MARK
    style = colour(v, scale)
    return number(v, width), (style + MARK if marked else style)


class Grid:
    """A matrix with row and column windows, highlighted cells, padding and not-yet-computed cells.

    ``value(r, c)`` returns a number, None (not computed yet) or the string "pad"; rows and
    columns may be outside the data (padding) as the caller decides.
    """

    PAD = Style(dim=True, italic=True)
    PAD_LIT = Style(reverse=True, italic=True)
    EMPTY_LIT = Style(dim=True, reverse=True)

    def __init__(self, value: Callable[[int, int], float | str | None], rows: Sequence[int],
                 cols: Sequence[int], *, cell: int = 6, scale: float = 1.0,
                 marked: Callable[[int, int], bool] | None = None,
                 row_labels: Callable[[int], str] | None = None, label_width: int = 0) -> None:
        self.value, self.rows_shown, self.cols, self.cell, self.scale = value, rows, cols, cell, scale
        self.marked = marked or (lambda r, c: False)
        self.row_labels, self.label_width = row_labels, label_width

    def rows(self) -> list[list[Segment]]:
        return [[Segment(t, st) for t, st in self.pieces(r)] for r in self.rows_shown]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for r in self.rows_shown:
            yield Text.assemble(*self.pieces(r), no_wrap=True)

    def pieces(self, r: int) -> list[Piece]:
        out: list[Piece] = [(pad_cells(self.row_labels(r), self.label_width), BOLD)] if self.row_labels else []
        for c in self.cols:
            out.append((" ", None))
            out.append(self.cell_at(r, c))
        return out

    @property
    def width(self) -> int:
        return self.label_width + len(self.cols) * (self.cell + 1)

    def cell_at(self, r: int, c: int) -> Piece:
        v = self.value(r, c)
        mark = self.marked(r, c)
        if isinstance(v, str):  # "pad"
            return "0·".rjust(self.cell), (self.PAD_LIT if mark else self.PAD)
        if v is None:
            return EMPTY.rjust(self.cell), (self.EMPTY_LIT if mark else DIM)
        if v != v:
            return HIDDEN.rjust(self.cell), MARK
        style = colour(float(v), self.scale)
        return number(float(v), self.cell), (style + MARK if mark else style)


def beside(left: Grid, right: Grid, left_title: str, right_title: str, gap: int = 3) -> list[Row]:
    """Two grids of the same height side by side, each under its title."""
    title = Style(bold=True, underline=True)
    lines = [Row([(pad_cells(left_title, left.width + gap), title), (right_title, title)])]
    for r in left.rows_shown:
        lines.append(Row(left.pieces(r) + [(" " * gap, None)] + right.pieces(r)))
    return lines


def pad_cells(text: str, width: int) -> str:
    """``text`` cut or padded to ``width`` terminal cells (CJK characters take two)."""
    from rich.cells import cell_len, set_cell_size

    return set_cell_size(text, width) if cell_len(text) != width else text


def plain(renderable, width: int = 80) -> str:
    """Render to plain text (tests and `export --format txt`)."""
    console = Console(width=width, file=None, color_system=None, record=True, force_terminal=False)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


__all__ = ["Grid", "Row", "Strip", "Window", "beside", "cell_piece", "colour", "number", "plain", "scale_of"]


def val(v: float) -> str:
    """A number inside a formula: four significant digits, no forced sign; `?` while it is hidden."""
    v = float(v)
    return HIDDEN if v != v else f"{v:.4g}"


def plus(*terms: str) -> str:
    """Terms joined with + (a negative term reads as a subtraction)."""
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out
