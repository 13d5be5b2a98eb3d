"""Convolution and pooling: the window on the (padded) input, kernel, products, sum, the output filling in."""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from stepper.engine.conv import Conv1d, Conv2d
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


class ConvView(FamilyView):
    """conv2d, conv1d (token rows, the window spanning whole rows) and max/avg pooling."""

    def lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        o = step.highlight["channel"]
        right_w = min(max(self.right_need(trace), ctx.width * 2 // 5), ctx.width - 22)
        left_w = ctx.width - right_w - 2
        table = Table.grid(padding=(0, 2))
        table.add_column(width=left_w, no_wrap=True)
        table.add_column(width=right_w, no_wrap=True)
        table.add_row(self.input_panel(ctx, left_w), self.right_panel(ctx, right_w, o))
        return [table]

    @staticmethod
    def right_need(trace) -> int:
        """Columns the kernel and products need side by side (or the pooling window)."""
        layer = trace.layer
        kw = min(layer.size[1], 8)
        if isinstance(layer, Conv1d):  # kernel and products stacked: one of them wide
            return kw * (max(cell_width(layer.kernel), 5) + 1) + 2
        if isinstance(layer, Conv2d):
            cell = max(cell_width(layer.kernel), 5)
            return 2 * kw * (cell + 1) + 4
        return kw * 7

    # --- the input, with the window -------------------------------------------------------------

    def input_panel(self, ctx: Context, width: int) -> Group:
        trace, step = ctx.trace, ctx.step
        layer = trace.layer
        g = trace.g  # (C, H, W)
        one_d = isinstance(layer, Conv1d)
        c = 0 if one_d else (ctx.channel if isinstance(layer, Conv2d) else step.highlight["channel"]) % g.shape[0]
        (ph, pw), (_, h, w) = layer.padding, g.shape
        rows, cols = step.highlight["rows"], step.highlight["cols"]
        cell = cell_width(g)
        label = 4 if one_d and ctx.labels else 0
        if one_d and ctx.labels:
            label = min(8, max(len(t) for t in ctx.labels) + 2)
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
        what = "tokens x embedding" if one_d else f"input ch {c + 1}/{g.shape[0]}"
        pads = " (0· = padding)" if ph or pw else ""
        head = title(what, f"rows {rw.label()} cols {cw.label()}{pads}")
        return Group(head, grid)

    # --- kernel, products, sum and the output ---------------------------------------------------

    def right_panel(self, ctx: Context, width: int, o: int) -> Group:
        trace, step = ctx.trace, ctx.step
        layer, v = trace.layer, step.values
        out = []
        if isinstance(layer, Conv2d):
            c = 0 if isinstance(layer, Conv1d) else ctx.channel % trace.g.shape[0]
            kernel, products = v["kernel"][c], v["products"][c]
            cell = max(cell_width(kernel), cell_width(products))
            n = fit(width if isinstance(layer, Conv1d) else (width - 3) // 2, cell)
            kk = Grid(lambda r, q: kernel[r, q], range(kernel.shape[0]), range(min(n, kernel.shape[1])),
                      cell=cell, scale=scale_of(kernel))
            pp = Grid(lambda r, q: products[r, q], range(products.shape[0]), range(min(n, products.shape[1])),
                      cell=cell, scale=scale_of(products))
            of = f" ch {c + 1}/{trace.g.shape[0]}" if trace.g.shape[0] > 1 else ""
            if isinstance(layer, Conv1d):
                out += [title(f"kernel K[{o + 1}]"), kk, title("x * K"), pp]
            else:
                out += beside(kk, pp, f"kernel K[{o + 1}]{of}", "x * K")
            out.append(Text(f"sum {val(v['sum'])} + bias {val(v['bias'])} = {val(v['result'])}", style="bold"))
        else:
            win = v["window"]
            cell = cell_width(np.where(np.isfinite(win), win, 0))
            grid = Grid(lambda r, q: win[r, q] if np.isfinite(win[r, q]) else "pad", range(win.shape[0]),
                        range(min(win.shape[1], fit(width, cell))), cell=cell, scale=scale_of(trace.g),
                        marked=(lambda r, q: (r, q) == tuple(v["argmax"])) if "argmax" in v else None)
            out += [title("window"), grid]
            if layer.kind == "max":
                out.append(Text(f"max = {val(v['result'])}", style="bold"))
            else:
                out.append(Text(f"mean {val(v['sum'])}/{v['count']} = {val(v['result'])}", style="bold"))
        used = len(out) + sum(len(x.rows_shown) - 1 for x in out if isinstance(x, Grid))
        out.extend(self.output_panel(ctx, width, o, max(ctx.height - used - 1, 1)))
        return Group(*out)

    def output_panel(self, ctx: Context, width: int, o: int, height: int) -> list:
        trace, step = ctx.trace, ctx.step
        done = np.arange(trace.grid_values.size).reshape(trace.grid_values.shape) < step.done
        i, j = step.highlight["out"]
        if isinstance(trace.layer, Conv1d):
            values, filled, at = trace.grid_values[:, :, 0].T, done[:, :, 0].T, (i, o)
            name = f"output ({values.shape[0]} positions x {values.shape[1]} channels)"
        else:
            values, filled, at = trace.grid_values[o], done[o], (i, j)
            channels = trace.grid_values.shape[0]
            name = f"output ch {o + 1}/{channels}" if channels > 1 else "output"
        cell = cell_width(values)
        rw = Window.around(at[0], max(height - 1, 1), values.shape[0])
        cw = Window.around(at[1], fit(width, cell), values.shape[1])
        grid = Grid(lambda r, q: values[r, q] if filled[r, q] else None, range(rw.start, rw.stop),
                    range(cw.start, cw.stop), cell=cell, scale=scale_of(values),
                    marked=lambda r, q: (r, q) == at)
        return [title(name, f"{values.shape[0]}x{values.shape[1]}"), grid]

    @staticmethod
    def formula(ctx: Context) -> tuple[str, str]:
        trace, step = ctx.trace, ctx.step
        layer, v = trace.layer, step.values
        i, j = step.highlight["out"]
        o = step.highlight["channel"]
        where = f"y[{i},{o}]" if isinstance(layer, Conv1d) else f"y[{o},{i},{j}]"
        if isinstance(layer, Conv2d):
            flat_x, flat_k = v["window"].ravel(), v["kernel"].ravel()
            terms = plus(*(f"{val(a)}*{val(b)}" for a, b in zip(flat_x[:3], flat_k[:3])))
            more = f" + ... ({flat_x.size} products)" if flat_x.size > 3 else ""
            line = f"{where} = {terms}{more} = {val(v['sum'])}; + bias {val(v['bias'])} = {val(v['result'])}"
        elif layer.kind == "max":
            line = f"{where} = max of the {v['window'].size} values in the window = {val(v['result'])}"
        else:
            line = f"{where} = {val(v['sum'])} / {v['count']} = {val(v['result'])} (padding counts as 0)"
        return line, size_formula(layer, trace.g.shape)


def size_formula(layer, shape: tuple[int, ...]) -> str:
    """floor((n + 2p - d(k-1) - 1)/s) + 1 with this layer's numbers, per axis that moves."""
    axes = (("T'", 0),) if isinstance(layer, Conv1d) else (("H'", 0), ("W'", 1))
    parts = []
    for name, a in axes:
        n, k, s, p, d = shape[1 + a], layer.size[a], layer.stride[a], layer.padding[a], layer.dilation[a]
        out = (n + 2 * p - d * (k - 1) - 1) // s + 1
        parts.append(f"{name} = floor(({n} + 2*{p} - {d}*({k}-1) - 1)/{s}) + 1 = {out}")
    return "; ".join(parts)

