"""Normalisation: the data with the reduced axis lit, each statistic appearing as its phase arrives.

BatchNorm is drawn as samples down the rows and features across, reducing a column; LayerNorm as
samples down the rows too, reducing a row. Means and variances sit beside what they summarise.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text

from stepper.engine.norm import PHASES
from stepper.tui.base import Context, FamilyView, title
from stepper.tui.conv_view import cell_width, fit
from stepper.tui.render import Grid, Window, pad_cells, plus, scale_of, val

LABEL = 6


def known(phase: int, g: int, total: int) -> tuple[int, int]:
    """How many means and variances are known at this step."""
    means = g + 1 if phase == 0 else total
    varis = 0 if phase == 0 else (g + 1 if phase == 1 else total)
    return means, varis


class NormView(FamilyView):
    """Samples down the rows, features across; a statistic per column or per row, as the kind says."""

    across_batch: bool  # True: one statistic per feature (a column), across the samples

    def lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        bn = self.across_batch
        s = trace.stats
        p, g = PHASES.index(step.phase), step.highlight["group"]
        total = trace.group_total
        means, varis = known(p, g, total)
        x = s["x"].T if bn else s["x"]  # rows: samples (members for BatchNorm), columns: features
        cell = max(cell_width(x), 5)
        extra = 0 if bn else 2
        cw = Window.around(g if bn else None, max(fit(ctx.width, cell, LABEL) - extra, 1), x.shape[1], ctx.pan_cols)
        fixed = 2 + (2 if bn else 0) + (1 if p >= 2 else 0)  # titles, header, BatchNorm's stat rows
        room = max((ctx.height - fixed) // (2 if p >= 2 else 1), 1)
        rw = Window.around(None if bn else g, room, x.shape[0], ctx.pan_rows)
        lit = (lambda r, c: c == g) if bn else (lambda r, c: r == g)
        mean = np.where(np.arange(total) < means, s["mean"], np.nan)
        var = np.where(np.arange(total) < varis, s["var"], np.nan)

        def value(r: int, c: int):
            if c >= x.shape[1]:  # LayerNorm's mean and variance columns
                v = (mean if c == x.shape[1] else var)[r]
                return None if np.isnan(v) else v
            return x[r, c]

        cols = list(range(cw.start, cw.stop)) + ([x.shape[1], x.shape[1] + 1] if not bn else [])
        head = self.header(cols, x.shape[1], cell, bn)
        out = [title("x", f"samples x features: rows {rw.label()}, cols "
                     f"{cw.label()}"), head,
               Grid(value, range(rw.start, rw.stop), cols, cell=cell, scale=scale_of(x), marked=lit,
                    row_labels=lambda r: self.row_label(ctx, r, bn), label_width=LABEL)]
        if bn:
            for name, stat in (("mean", mean), ("var", var)):
                out.append(Grid(lambda r, c, stat=stat: None if np.isnan(stat[c]) else stat[c], [0],
                                range(cw.start, cw.stop), cell=cell, scale=scale_of(s["mean"]),
                                marked=lambda r, c: c == g and p < 2, row_labels=lambda r, n=name: n,
                                label_width=LABEL))
        if p >= 2:
            key = "x_hat" if p == 2 else "y"
            res = s[key].T if bn else s[key]
            done = np.arange(total) <= g
            filled = (lambda r, c: done[c]) if bn else (lambda r, c: done[r])
            label = "x_hat = (x - mean) / sqrt(var + eps)" if p == 2 else "y = gamma * x_hat + beta"
            out += [title(key, label),
                    Grid(lambda r, c: res[r, c] if filled(r, c) else None, range(rw.start, rw.stop),
                         range(cw.start, cw.stop), cell=cell, scale=max(scale_of(res), 1e-12), marked=lit,
                         row_labels=lambda r: self.row_label(ctx, r, bn), label_width=LABEL)]
        return out

    def row_label(self, ctx: Context, r: int, bn: bool) -> str:
        if ctx.labels and r < len(ctx.labels) and (not bn or ctx.trace.input.ndim == 2):
            return ctx.labels[r]
        return f"s{r + 1}"

    def header(self, cols: list[int], features: int, cell: int, bn: bool) -> Text:
        line = Text(pad_cells("", LABEL), no_wrap=True, style="dim")
        for c in cols:
            name = f"f{c + 1}" if c < features else ("mean" if c == features else "var")
            line.append(" " + name.rjust(cell)[:cell])
        return line

    @classmethod
    def formula(cls, ctx: Context) -> tuple[str, str]:
        trace, step = ctx.trace, ctx.step
        v = step.values
        g = step.highlight["group"]
        what = f"{trace.layer.axis_name} {g + 1}"
        xs = v["x"]
        m = xs.size
        if step.phase == "mean":
            line = f"mean[{what}] = ({plus(*(val(a) for a in xs[:5]))}{' + ...' if m > 5 else ''}) / {m} = {val(v['mean'])}"
        elif step.phase == "var":
            sq = " + ".join(f"({plus(val(a), val(-v['mean']))})^2" for a in xs[:2]) + (" + ..." if m > 2 else "")
            line = f"var[{what}] = ({sq}) / {m} = {val(v['var'])}"
        elif step.phase == "normalise":
            line = (f"x_hat[{what}] = (x - {val(v['mean'])}) / sqrt({val(v['var'])} + {v['eps']:g}) = "
                    + ", ".join(val(a) for a in v["x_hat"][:4]) + (", ..." if m > 4 else ""))
        else:
            gamma, beta = np.unique(v["gamma"]), np.unique(v["beta"])
            gs = val(gamma[0]) if gamma.size == 1 else "gamma"
            bs = val(beta[0]) if beta.size == 1 else "beta"
            line = (f"y[{what}] = {gs} * x_hat + {bs} = " + ", ".join(val(a) for a in v["y"][:4]) +
                    (", ..." if m > 4 else ""))
        return line, cls.reduces(trace.input.shape, trace.layer.eps)

    @staticmethod
    def reduces(n: tuple[int, ...], eps: float) -> str:
        """The second formula line: which values each statistic is taken over."""
        raise NotImplementedError


class BatchNormView(NormView):
    across_batch = True

    @staticmethod
    def reduces(n: tuple[int, ...], eps: float) -> str:
        return (f"BatchNorm: per {'feature' if len(n) == 2 else 'channel'}, across the batch of {n[0]} "
                f"(biased variance, eps {eps:g})")


class LayerNormView(NormView):
    across_batch = False

    @staticmethod
    def reduces(n: tuple[int, ...], eps: float) -> str:
        return f"LayerNorm: per sample, across its {n[-1]} features (last axis, eps {eps:g})"
