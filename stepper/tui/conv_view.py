"""Convolution and pooling: the window on the (padded) input, kernel, products, sum, the output filling in.

`WindowView` draws what every sliding window shares; one small class per layer kind adds its own
panel beside the input (a kernel and its products, or the pooled window) and its line of the formula.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from stepper.tui.base import Context, FamilyView, title
from stepper.tui.render import Grid, beside, Window, number, plus, scale_of, val


def cell_width(values: np.ndarray) -> int:
    """Wide enough for the numbers in ``values``: whole numbers as they are, others 5 or 6 wide."""
    flat = np.asarray(values, dtype=float).ravel()[:16384]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 3
    if np.all(flat == np.round(flat)):
        return max(3, min(6, max(len(number(v, 6).strip()) for v in (flat.min(), flat.max()))))
    return 5 if np.abs(flat).max() < 9.995 else 6


def fit(cells: int, cell: int, label: int = 0) -> int:
    return max(1, (cells - label) // (cell + 1))


class WindowView(FamilyView):
    """The input with the window on it (left); the kind's own panel and the output filling in (right)."""

    input_channels = True

    def lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        o = step.highlight["channel"]
        right_w = min(max(self.right_need(trace.layer), ctx.width * 2 // 5), ctx.width - 22)
        left_w = ctx.width - right_w - 2
        table = Table.grid(padding=(0, 2))
        table.add_column(width=left_w, no_wrap=True)
        table.add_column(width=right_w, no_wrap=True)
        table.add_row(self.input_panel(ctx, left_w), self.right_panel(ctx, right_w, o))
        return [table]

    # --- what each kind says --------------------------------------------------------------------

    @staticmethod
    def right_need(layer) -> int:
        """Columns the right panel needs beside the input."""
        raise NotImplementedError

    def input_channel(self, ctx: Context) -> int:
        """The input channel drawn on the left."""
        raise NotImplementedError

    def window_panel(self, ctx: Context, width: int, o: int) -> list:
        """The kind's own rows above the output: what the window does at this step."""
        raise NotImplementedError

    @staticmethod
    def live(where: str, v) -> str:
        """This step's formula with its numbers."""
        raise NotImplementedError

    def label_width(self, ctx: Context) -> int:
        return 0  # row labels (tokens) beside the input

    def input_title(self, ctx: Context, c: int) -> str:
        return f"input ch {c + 1}/{ctx.trace.g.shape[0]}"

    @staticmethod
    def output_grid(trace, done: np.ndarray, o: int, i: int, j: int):
        """The output as drawn: its values, which are computed, the current cell and the title."""
        values, filled, at = trace.grid_values[o], done[o], (i, j)
        channels = trace.grid_values.shape[0]
        return values, filled, at, f"output ch {o + 1}/{channels}" if channels > 1 else "output"

    @staticmethod
    def where(o: int, i: int, j: int) -> str:
        return f"y[{o},{i},{j}]"

    # --- the input, with the window -------------------------------------------------------------

    def input_panel(self, ctx: Context, width: int) -> Group:
        trace, step = ctx.trace, ctx.step
        layer = trace.layer
        g = trace.g  # (C, H, W)
        c = self.input_channel(ctx)
        (ph, pw), (_, h, w) = layer.padding, g.shape
        rows, cols = step.highlight["rows"], step.highlight["cols"]
        cell = cell_width(g)
        label = self.label_width(ctx)
        rw = Window.covering(rows[0] + ph, rows[-1] + ph, max(ctx.height - 2, 1), h + 2 * ph, ctx.pan_rows)
        cw = Window.covering(cols[0] + pw, cols[-1] + pw, fit(width, cell, label), w + 2 * pw, ctx.pan_cols)
        row_set, col_set = set(rows), set(cols)

        def value(r: int, q: int):
            r, q = r - ph, q - pw
            return "pad" if not (0 <= r < h and 0 <= q < w) else g[c, r, q]

        def labels(r: int) -> str:
            r -= ph
            return ctx.labels[r] if 0 <= r < len(ctx.labels) else ("pad" if r < 0 or r >= h else str(r))

        grid = Grid(value, range(rw.start, rw.stop), range(cw.start, cw.stop), cell=cell, scale=scale_of(g),
                    marked=lambda r, q: (r - ph) in row_set and (q - pw) in col_set,
                    row_labels=labels if label else None, label_width=label)
        pads = " (0· = padding)" if ph or pw else ""
        head = title(self.input_title(ctx, c), f"rows {rw.label()} cols {cw.label()}{pads}")
        return Group(head, grid)

    # --- the kind's panel and the output --------------------------------------------------------

    def right_panel(self, ctx: Context, width: int, o: int) -> Group:
        out = self.window_panel(ctx, width, o)
        used = len(out) + sum(len(x.rows_shown) - 1 for x in out if isinstance(x, Grid))
        out.extend(self.output_panel(ctx, width, o, max(ctx.height - used - 1, 1)))
        return Group(*out)

    def output_panel(self, ctx: Context, width: int, o: int, height: int) -> list:
        trace, step = ctx.trace, ctx.step
        done = np.arange(trace.grid_values.size).reshape(trace.grid_values.shape) < step.done
        values, filled, at, name = self.output_grid(trace, done, o, *step.highlight["out"])
        cell = cell_width(values)
        rw = Window.around(at[0], max(height - 1, 1), values.shape[0])
        cw = Window.around(at[1], fit(width, cell), values.shape[1])
        grid = Grid(lambda r, q: values[r, q] if filled[r, q] else None, range(rw.start, rw.stop),
                    range(cw.start, cw.stop), cell=cell, scale=scale_of(values),
                    marked=lambda r, q: (r, q) == at)
        return [title(name, f"{values.shape[0]}x{values.shape[1]}"), grid]

    @classmethod
    def formula(cls, ctx: Context) -> tuple[str, str]:
        trace, step = ctx.trace, ctx.step
        where = cls.where(step.highlight["channel"], *step.highlight["out"])
        return cls.live(where, step.values), size_formula(trace.layer, trace.g.shape)


class Conv2dView(WindowView):
    """The kernel and the products beside each other, their sum plus the bias."""

    @staticmethod
    def right_need(layer) -> int:
        cell = max(cell_width(layer.kernel), 5)
        return 2 * min(layer.size[1], 8) * (cell + 1) + 4

    def input_channel(self, ctx: Context) -> int:
        return ctx.channel % ctx.trace.g.shape[0]  # c shows the next one

    def window_panel(self, ctx: Context, width: int, o: int) -> list:
        v = ctx.step.values
        c = self.input_channel(ctx)
        kernel, products = v["kernel"][c], v["products"][c]
        cell = max(cell_width(kernel), cell_width(products))
        n = fit(self.kernel_width(width), cell)
        kk = Grid(lambda r, q: kernel[r, q], range(kernel.shape[0]), range(min(n, kernel.shape[1])),
                  cell=cell, scale=scale_of(kernel))
        pp = Grid(lambda r, q: products[r, q], range(products.shape[0]), range(min(n, products.shape[1])),
                  cell=cell, scale=scale_of(products))
        out = self.arrange(kk, pp, o, c, ctx.trace.g.shape[0])
        out.append(Text(f"sum {val(v['sum'])} + bias {val(v['bias'])} = {val(v['result'])}", style="bold"))
        return out

    @staticmethod
    def kernel_width(width: int) -> int:
        return (width - 3) // 2  # the products stand beside the kernel

    @staticmethod
    def arrange(kernel: Grid, products: Grid, o: int, c: int, channels: int) -> list:
        of = f" ch {c + 1}/{channels}" if channels > 1 else ""
        return beside(kernel, products, f"kernel K[{o + 1}]{of}", "x * K")

    @staticmethod
    def live(where: str, v) -> str:
        flat_x, flat_k = v["window"].ravel(), v["kernel"].ravel()
        terms = plus(*(f"{val(a)}*{val(b)}" for a, b in zip(flat_x[:3], flat_k[:3])))
        more = f" + ... ({flat_x.size} products)" if flat_x.size > 3 else ""
        return f"{where} = {terms}{more} = {val(v['sum'])}; + bias {val(v['bias'])} = {val(v['result'])}"


class Conv1dView(Conv2dView):
    """Token rows; the window spans whole rows, so the kernel and products stand one above the other."""

    input_channels = False

    @staticmethod
    def right_need(layer) -> int:
        return min(layer.size[1], 8) * (max(cell_width(layer.kernel), 5) + 1) + 2

    def input_channel(self, ctx: Context) -> int:
        return 0

    def label_width(self, ctx: Context) -> int:
        return min(8, max(len(t) for t in ctx.labels) + 2) if ctx.labels else 0

    def input_title(self, ctx: Context, c: int) -> str:
        return "tokens x embedding"

    @staticmethod
    def kernel_width(width: int) -> int:
        return width

    @staticmethod
    def arrange(kernel: Grid, products: Grid, o: int, c: int, channels: int) -> list:
        return [title(f"kernel K[{o + 1}]"), kernel, title("x * K"), products]

    @staticmethod
    def output_grid(trace, done: np.ndarray, o: int, i: int, j: int):
        values = trace.grid_values[:, :, 0].T
        name = f"output ({values.shape[0]} positions x {values.shape[1]} channels)"
        return values, done[:, :, 0].T, (i, o), name

    @staticmethod
    def where(o: int, i: int, j: int) -> str:
        return f"y[{i},{o}]"


class PoolView(WindowView):
    """The window's values, padding marked, and what pooling makes of them."""

    @staticmethod
    def right_need(layer) -> int:
        return min(layer.size[1], 8) * 7

    def input_channel(self, ctx: Context) -> int:
        return ctx.step.highlight["channel"] % ctx.trace.g.shape[0]  # a pool keeps each channel apart

    def window_panel(self, ctx: Context, width: int, o: int) -> list:
        v = ctx.step.values
        win = v["window"]
        cell = cell_width(np.where(np.isfinite(win), win, 0))
        grid = Grid(lambda r, q: win[r, q] if np.isfinite(win[r, q]) else "pad", range(win.shape[0]),
                    range(min(win.shape[1], fit(width, cell))), cell=cell, scale=scale_of(ctx.trace.g),
                    marked=self.marked(v))
        return [title("window"), grid, Text(self.result(v), style="bold")]

    @staticmethod
    def marked(v):
        return None

    @staticmethod
    def result(v) -> str:
        raise NotImplementedError


class MaxPoolView(PoolView):
    @staticmethod
    def marked(v):
        return lambda r, q: (r, q) == tuple(v["argmax"])  # the value that wins

    @staticmethod
    def result(v) -> str:
        return f"max = {val(v['result'])}"

    @staticmethod
    def live(where: str, v) -> str:
        return f"{where} = max of the {v['window'].size} values in the window = {val(v['result'])}"


class AvgPoolView(PoolView):
    @staticmethod
    def result(v) -> str:
        return f"mean {val(v['sum'])}/{v['count']} = {val(v['result'])}"

    @staticmethod
    def live(where: str, v) -> str:
        return f"{where} = {val(v['sum'])} / {v['count']} = {val(v['result'])} (padding counts as 0)"


def size_formula(layer, shape: tuple[int, ...]) -> str:
    """floor((n + 2p - d(k-1) - 1)/s) + 1 with this layer's numbers, per axis that moves; the engine
    gives each axis's output length."""
    return "; ".join(f"{a.name} = floor(({a.n} + 2*{a.p} - {a.d}*({a.k}-1) - 1)/{a.s}) + 1 = {a.out}"
                     for a in layer.moving(shape))
