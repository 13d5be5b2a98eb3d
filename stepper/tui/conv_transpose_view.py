"""Transposed convolution: an input value, its kernel-weighted copy, and the larger output it lands on.

On the left the input, the current value lit, and below it the kernel and the copy x * K; on the right
the output, drawn uncropped: the copy's footprint lit, the running sums in every cell a copy has reached
(a dot where none has yet), and the rows and columns the padding crops marked ✂ and struck through.
Once every value has scattered, each output value is shown as the copies that landed on it plus the bias.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

from stepper.tui.base import Context, FamilyView, title
from stepper.tui.conv_view import cell_width, fit
from stepper.tui.render import BOLD, DIM, MARK, Grid, Row, Window, beside, number, pad_cells, plus, scale_of, val

CUT = "✂"
SIZE = "H' = (H-1)s - 2p + d(kh-1) + output_padding + 1"
TEXT = len(SIZE)  # the widest line under the output: the output side keeps room for it


def at(*index: int) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


class Canvas(Grid):
    """The uncropped output: a cell the padding crops keeps its number, struck through and uncoloured."""

    CROPPED = Style(dim=True, strike=True)

    def __init__(self, *args, cropped, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cropped = cropped

    def cell_at(self, r: int, c: int):
        text, style = super().cell_at(r, c)
        if self.cropped(r, c) and self.value(r, c) is not None:
            return text, (self.CROPPED + MARK if self.marked(r, c) else self.CROPPED)
        return text, style


class ConvTransposeView(FamilyView):
    """The input and what one of its values scatters (left); the uncropped output filling up (right)."""

    input_channels = True  # c: whose contributions the output values show

    def lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        c = step.highlight["element"][0] if "element" in step.highlight else ctx.channel % trace.g.shape[0]
        left_w, right_w, side_by_side = self.widths(ctx)
        table = Table.grid(padding=(0, 2))
        table.add_column(width=left_w, no_wrap=True)
        table.add_column(width=right_w, no_wrap=True)
        table.add_row(self.input_side(ctx, c, left_w, side_by_side), self.output_side(ctx, right_w))
        return [table]

    def widths(self, ctx: Context) -> tuple[int, int, bool]:
        """Columns for the input side and the output side, and whether the kernel and the copy stand side by
        side. The output side keeps room for a whole copy's footprint and the lines under it."""
        trace = ctx.trace
        kernel_w = min(trace.layer.kernel.shape[3], 8) * (self.kernel_cell(trace) + 1)
        pair_w = 2 * kernel_w + 3
        input_w = trace.g.shape[2] * (cell_width(trace.g) + 1)
        cell, label = cell_width(trace.canvas), label_width(trace)
        canvas_w = label + trace.cols.canvas * (cell + 1)
        footprint_w = label + min(trace.cols.d * (trace.cols.k - 1) + 1, trace.cols.canvas) * (cell + 1)
        if ctx.width - max(canvas_w, TEXT) - 2 >= max(input_w, pair_w):
            left = max(input_w, pair_w)
            return left, ctx.width - left - 2, True
        keep = max(footprint_w, min(TEXT, ctx.width - 30))  # a narrow view gives up the text first
        left = max(min(max(input_w, kernel_w), ctx.width - keep - 2), 8)
        return left, max(ctx.width - left - 2, 8), False

    @classmethod
    def kernel_cell(cls, trace) -> int:
        return max(cell_width(trace.layer.kernel), cell_width(cls.copies(trace)))

    @staticmethod
    def copies(trace) -> np.ndarray:
        """Every number a copy can hold (sampled), so cells keep one width from step to step."""
        g, k = trace.g.ravel()[:256], trace.layer.kernel.ravel()[:256]
        return np.outer(g, k)

    # --- the input side: the input, the kernel, the copy (or what landed on one output) ---------------

    def input_side(self, ctx: Context, c: int, width: int, beside_ok: bool) -> Group:
        trace, step = ctx.trace, ctx.step
        o = step.highlight["channel"]
        kernel = trace.layer.kernel[c, o]
        if "element" in step.highlight:
            _, i, j = step.highlight["element"]
            lit_in, lit_k = (lambda r, q: (r, q) == (i, j)), None
        else:
            mine = [s for s in step.highlight["from"] if s[0] == c]
            sources, taps = {(s[1], s[2]) for s in mine}, {(s[3], s[4]) for s in mine}
            lit_in, lit_k = (lambda r, q: (r, q) in sources), (lambda a, b: (a, b) in taps)
            i, j = (min(sources) if sources else (None, None))
        cell = self.kernel_cell(trace)
        # the kernel's rows, and below (or beside) them as many of the copy's, leave at least one input row
        shown = min(kernel.shape[0], max(ctx.height - 3 if beside_ok else (ctx.height - 4) // 2, 1))
        k_cols = range(min(kernel.shape[1], fit(width if not beside_ok else (width - 3) // 2, cell)))
        kk = Grid(lambda a, b: kernel[a, b], range(shown), k_cols, cell=cell, scale=scale_of(kernel), marked=lit_k)
        below = self.copy_panel(ctx, c, kk, cell, beside_ok) if "element" in step.highlight else \
            self.landed_panel(ctx, kk, o, c, ctx.height - shown - 4)
        used = sum(len(x.rows_shown) if isinstance(x, Grid) else 1 for x in below)
        grid_in = self.input_grid(ctx, c, i, j, width, max(ctx.height - used - 1, 1), lit_in)
        return Group(self.input_title(trace, c, grid_in), grid_in, *below)

    @staticmethod
    def input_title(trace, c: int, grid: Grid) -> Text:
        channels = trace.g.shape[0]
        of = f" ch {c + 1}/{channels}" if channels > 1 else ""
        rows, cols = grid.rows_shown, grid.cols
        shape = f"{trace.g.shape[1]}x{trace.g.shape[2]}"
        whole = (len(rows), len(cols)) == trace.g.shape[1:]
        part = "" if whole else f", rows {rows[0]}-{rows[-1]}, cols {cols[0]}-{cols[-1]}"
        return title(f"INPUT x{of}", shape + part)

    @staticmethod
    def input_grid(ctx: Context, c: int, i, j, width: int, height: int, lit) -> Grid:
        g = ctx.trace.g
        cell = cell_width(g)
        rw = Window.around(i, height, g.shape[1])
        cw = Window.around(j, fit(width, cell), g.shape[2])
        return Grid(lambda r, q: g[c, r, q], range(rw.start, rw.stop), range(cw.start, cw.stop), cell=cell,
                    scale=scale_of(g), marked=lit)

    @staticmethod
    def kernel_title(trace, c: int, o: int) -> str:
        channels, outs = trace.g.shape[0], trace.layer.kernel.shape[1]
        return "kernel K" + (f"[{c + 1}→{o + 1}]" if channels > 1 or outs > 1 else "")

    def copy_panel(self, ctx: Context, c: int, kk: Grid, cell: int, beside_ok: bool) -> list:
        copy = ctx.step.values["copy"]
        x = ctx.step.values["x"]
        cc = Grid(lambda a, b: copy[a, b], kk.rows_shown, kk.cols, cell=cell, scale=scale_of(ctx.trace.canvas))
        head = self.kernel_title(ctx.trace, c, ctx.step.highlight["channel"])
        named = f"copy = {val(x)} × K"
        if beside_ok:
            return beside(kk, cc, head, named)
        return [title(head), kk, title(named), cc]

    def landed_panel(self, ctx: Context, kk: Grid, o: int, c: int, room: int) -> list:
        """The kernel with the taps that reached this output lit, and the products that landed on it."""
        v, sources = ctx.step.values, ctx.step.highlight["from"]
        many = ctx.trace.g.shape[0] > 1
        out: list = [title(self.kernel_title(ctx.trace, c, o)), kk,
                     title(f"landed on {self.where_out(ctx)}")]
        lines = [f"x{at(*((s[0],) if many else ()), s[1], s[2])}·K{at(s[3], s[4])} = {number(p).strip()}"
                 for s, p in zip(sources, v["products"])]
        if not lines:
            lines = ["no copy reaches it"]
        if len(lines) > max(room, 1):
            lines = lines[: max(room - 1, 0)] + [f"... {len(sources)} products in all"]
        out += [Text(line, no_wrap=True) for line in lines]
        return out

    # --- the output side: the uncropped output -----------------------------------------------------

    def output_side(self, ctx: Context, width: int) -> Group:
        trace, step = ctx.trace, ctx.step
        rows, cols = trace.rows, trace.cols
        cell, label_w = cell_width(trace.canvas), label_width(trace)
        lit_rows, lit_cols = (step.highlight["rows"], step.highlight["cols"]) if "element" in step.highlight \
            else ((step.highlight["at"][0],), (step.highlight["at"][1],))
        legend = "lit: where this copy lands   ·: no copy yet" if "element" in step.highlight \
            else "y = what landed + bias, row by row"
        notes = [self.cropped_text(rows, cols), legend, SIZE, *size_lines(rows, cols)]
        room = min(max(len(lit_rows), 3), 4)  # output rows to keep: a short view gives up notes, the last first
        notes = notes[: max(min(len(notes), ctx.height - 2 - room), 1)]
        rw = Window.covering(lit_rows[0], lit_rows[-1], max(ctx.height - 2 - len(notes), 1), rows.canvas,
                             ctx.pan_rows)
        cw = Window.covering(lit_cols[0], lit_cols[-1], fit(width, cell, label_w), cols.canvas, ctx.pan_cols)
        sums, reached = self.sums(ctx, range(rw.start, rw.stop), range(cw.start, cw.stop))
        lit = set(lit_rows), set(lit_cols)
        grid = Canvas(lambda r, q: sums[r - rw.start, q - cw.start] if reached[r - rw.start, q - cw.start] else None,
                      range(rw.start, rw.stop), range(cw.start, cw.stop), cell=cell, scale=scale_of(trace.canvas),
                      marked=lambda r, q: r in lit[0] and q in lit[1],
                      row_labels=lambda r: output_index(rows, r), label_width=label_w,
                      cropped=lambda r, q: output_index(rows, r) == CUT or output_index(cols, q) == CUT)
        outs = trace.layer.kernel.shape[1]
        of = f" ch {step.highlight['channel'] + 1}/{outs}" if outs > 1 else ""
        return Group(title(f"OUTPUT y{of}", f"{rows.out}x{cols.out}, drawn uncropped {rows.canvas}x{cols.canvas}"),
                     self.column_header(cols, range(cw.start, cw.stop), cell, label_w), grid,
                     *(Text(line, style="dim") for line in notes))

    @staticmethod
    def sums(ctx: Context, rows: range, cols: range) -> tuple[np.ndarray, np.ndarray]:
        """The uncropped output's ``rows`` x ``cols`` as this step leaves them, and where a copy has
        landed: the running sums while values scatter; then the sums, and the output values done so
        far (the trace's own, so a quiz's hidden value stays hidden)."""
        trace, step = ctx.trace, ctx.step
        o = step.highlight["channel"]
        if "element" in step.highlight:
            sums, count = trace.running(o, step.index - o * trace.per_channel + 1, rows, cols)
            return sums, count > 0
        r = np.asarray(rows)[:, None] - trace.rows.p  # output rows and columns
        q = np.asarray(cols)[None, :] - trace.cols.p
        inside = (r >= 0) & (r < trace.rows.out) & (q >= 0) & (q < trace.cols.out)
        done = inside & (r * trace.cols.out + q < step.done - o * trace.rows.out * trace.cols.out)
        outputs = trace.grid_values[o][np.clip(r, 0, trace.rows.out - 1), np.clip(q, 0, trace.cols.out - 1)]
        sums = trace.canvas[o][np.ix_(rows, cols)]
        return np.where(done, outputs, sums), np.ones(sums.shape, dtype=bool)

    @staticmethod
    def column_header(cols, shown: range, cell: int, label: int) -> Row:
        pieces = [(pad_cells("", label), None)]
        for q in shown:
            text = output_index(cols, q)
            pieces += [(" ", None), (text.rjust(cell), DIM if text == CUT else BOLD)]
        return Row(pieces)

    @staticmethod
    def cropped_text(rows, cols) -> str:
        if not (rows.p or rows.cut_after or cols.p or cols.cut_after):
            return "no padding: nothing is cropped"
        return f"{CUT} cropped: {rows.p} top, {rows.cut_after} bottom, {cols.p} left, {cols.cut_after} right"

    # --- the formula bar -----------------------------------------------------------------------------

    @staticmethod
    def where_in(ctx: Context) -> str:
        c, i, j = ctx.step.highlight["element"]
        return "x" + at(*((c,) if ctx.trace.g.shape[0] > 1 else ()), i, j)

    @staticmethod
    def where_out(ctx: Context) -> str:
        o, (r, q) = ctx.step.highlight["channel"], ctx.step.highlight["out"]
        return "y" + at(*((o,) if ctx.trace.layer.kernel.shape[1] > 1 else ()), r, q)

    @classmethod
    def formula(cls, ctx: Context) -> tuple[str, str]:
        live = cls.scattered(ctx) if "element" in ctx.step.highlight else cls.summed(ctx)
        return live, "; ".join(size_lines(ctx.trace.rows, ctx.trace.cols))

    @classmethod
    def scattered(cls, ctx: Context) -> str:
        """Where this step's copy lands, in the output's own rows and columns."""
        trace, step = ctx.trace, ctx.step
        x = val(step.values["x"])
        rows = [r - trace.rows.p for r in step.highlight["rows"]]
        cols = [q - trace.cols.p for q in step.highlight["cols"]]
        into = f" of output ch {step.highlight['channel'] + 1}" if trace.layer.kernel.shape[1] > 1 else ""
        cut = min(rows) < 0 or min(cols) < 0 or max(rows) >= trace.rows.out or max(cols) >= trace.cols.out
        return (f"{cls.where_in(ctx)} = {x}: the copy {x} × K lands on rows {rows[0]}..{rows[-1]}, "
                f"cols {cols[0]}..{cols[-1]}{into}" + (f" ({CUT} partly cropped)" if cut else ""))

    @classmethod
    def summed(cls, ctx: Context) -> str:
        """This output value: the products that landed on it, their sum, and the bias."""
        v = ctx.step.values
        bias = f"+ bias {val(v['bias'])} = {val(v['result'])}"
        if not v["xs"].size:
            return f"{cls.where_out(ctx)}: no copy lands here, so 0 {bias}"
        terms = plus(*(f"{val(x)}*{val(k)}" for x, k in zip(v["xs"][:3], v["ks"][:3])))
        more = f" + ... ({v['xs'].size} products)" if v["xs"].size > 3 else ""
        return f"{cls.where_out(ctx)} = {terms}{more} = {val(v['sum'])}; {bias}"


def output_index(axis, place: int) -> str:
    """The output's own row (or column) number of uncropped ``place``, or ✂ where the padding crops it."""
    return str(place - axis.p) if axis.p <= place < axis.p + axis.out else CUT


def label_width(trace) -> int:
    """The output's row labels: its own row number, or ✂ where the padding crops."""
    return max(len(str(trace.rows.out - 1)), 1) + 1


def size_lines(rows, cols) -> list[str]:
    """(H-1)s - 2p + d(kh-1) + output_padding + 1 with this layer's numbers, per axis (one line when both
    axes agree); the engine gives each axis's output length."""
    def numbers(a) -> str:
        return f"({a.n}-1)*{a.s} - 2*{a.p} + {a.d}*({a.k}-1) + {a.op} + 1 = {a.out}"

    if numbers(rows) == numbers(cols):
        return [f"H' = W' = {numbers(rows)}"]
    return [f"{a.name} = {numbers(a)}" for a in (rows, cols)]
