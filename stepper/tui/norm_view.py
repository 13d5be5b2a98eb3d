"""Normalisation: the data with the values of the current statistic lit, each statistic appearing as
its phase arrives.

A table of samples down the rows and features across: BatchNorm reduces a column, LayerNorm and
RMSNorm a row, and the statistics sit beside what they summarise. An (N, C, H, W) batch, and every
GroupNorm and InstanceNorm input (groupnorm_view.py), is drawn as blocks instead (blocks.py): a band
per sample, a block per channel, so a channel across the batch, one block or a group of neighbouring
blocks lights up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rich.text import Text

from stepper.tui.base import Context, FamilyView, title
from stepper.tui.blocks import as_blocks, block_rows, fit as fit_blocks
from stepper.tui.conv_view import cell_width, fit
from stepper.tui.render import Grid, Strip, Window, pad_cells, plus, scale_of, val

LABEL = 6


class StatRow(NamedTuple):
    """One statistic per group, and which of them are known yet; ``lit`` is the group the step is at."""

    label: str
    values: np.ndarray
    known: np.ndarray
    lit: int | None = None

    def at(self, g: int):
        """Group ``g``'s value, or None while it is not known."""
        return self.values[g] if self.known[g] else None


def known(phase: int, g: int, total: int) -> tuple[int, int]:
    """How many of the first and the second statistic are known at this step."""
    first = g + 1 if phase == 0 else total
    second = 0 if phase == 0 else (g + 1 if phase == 1 else total)
    return first, second


def positions(ndim: int) -> tuple[str, ...]:
    """The names of an (N, C, ...) input's position axes."""
    return {2: (), 3: ("l",), 4: ("h", "w")}[ndim]


def upto(count: int, total: int) -> np.ndarray:
    return np.arange(total) < count


class NormView(FamilyView):
    """Samples down the rows, features across; a statistic per column or per row, as the kind says."""

    across_batch: bool  # True: one statistic per feature (a column), across the samples
    labels = ("mean", "var")  # the two statistics as the rows or columns beside the data name them

    # --- what each kind says ----------------------------------------------------------------------

    @classmethod
    def stat_rows(cls, trace, p: int, g: int) -> list[StatRow]:
        total = trace.group_total
        first, second = known(p, g, total)
        return [StatRow(cls.labels[0], trace.first, upto(first, total), g),
                StatRow(cls.labels[1], trace.second, upto(second, total), g)]

    @staticmethod
    def where(trace, g: int) -> str:
        """Statistic ``g`` in words: `feature 2`, `sample 3`..."""
        return f"{trace.layer.axis_name} {g + 1}"

    @staticmethod
    def reduces(trace) -> str:
        """The formula bar's second line: which values each statistic is taken over."""
        raise NotImplementedError

    @staticmethod
    def blocks(trace) -> bool:
        """Whether the input is drawn as blocks (an (N, C, H, W) batch) rather than as a table."""
        return trace.input.ndim == 4

    @staticmethod
    def short(trace, g: int) -> str:
        """Statistic ``g`` in a few characters, for the strip under the blocks."""
        return f"{g + 1}"

    # --- drawing ----------------------------------------------------------------------------------

    def lines(self, ctx: Context) -> list:
        return self.block_lines(ctx) if self.blocks(ctx.trace) else self.table_lines(ctx)

    def table_lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        bn = self.across_batch
        s = trace.stats
        p, g = step.unit, step.highlight["group"]
        total = trace.group_total
        stats = self.stat_rows(trace, p, g)
        x = s["x"].T if bn else s["x"]  # rows: samples (members for BatchNorm), columns: features
        cell = max(cell_width(x), 5)
        extra = 0 if bn else len(stats)
        cw = Window.around(g if bn else None, max(fit(ctx.width, cell, LABEL) - extra, 1), x.shape[1], ctx.pan_cols)
        if bn and p >= 2 and (ctx.height - 5 - len(stats)) // 2 < x.shape[0]:
            stats = stats[:2]  # short of room once the statistics are known: the ones used stay
        fixed = 2 + (len(stats) if bn else 0) + (1 if p >= 2 else 0)  # titles, header, BatchNorm's stat rows
        room = max((ctx.height - fixed) // (2 if p >= 2 else 1), 1)
        rw = Window.around(None if bn else g, room, x.shape[0], ctx.pan_rows)
        lit = (lambda r, c: c == g) if bn else (lambda r, c: r == g)

        def value(r: int, c: int):
            if c >= x.shape[1]:  # LayerNorm's statistics, as columns
                return stats[c - x.shape[1]].at(r)
            return x[r, c]

        cols = list(range(cw.start, cw.stop)) + (list(range(x.shape[1], x.shape[1] + extra)) if not bn else [])
        head = self.header(cols, x.shape[1], cell, [row.label for row in stats])
        legend = self.legend(trace) or "samples x features: "
        out = [title("x", f"{legend}rows {rw.label()}, cols {cw.label()}"), head,
               Grid(value, range(rw.start, rw.stop), cols, cell=cell, scale=scale_of(x), marked=lit,
                    row_labels=lambda r: self.row_label(ctx, r, bn), label_width=LABEL)]
        if bn:
            for row in stats:
                out.append(Grid(lambda r, c, row=row: row.at(c), [0],
                                range(cw.start, cw.stop), cell=cell, scale=scale_of(row.values),
                                marked=lambda r, c, at=row.lit: c == at, row_labels=lambda r, n=row.label: n,
                                label_width=LABEL))
        if p >= 2:
            key = "x_hat" if p == 2 else "y"
            res = s[key].T if bn else s[key]
            done = np.arange(total) <= g
            filled = (lambda r, c: done[c]) if bn else (lambda r, c: done[r])
            label = trace.layer.formula(step.phase)
            out += [title(key, label),
                    Grid(lambda r, c: res[r, c] if filled(r, c) else None, range(rw.start, rw.stop),
                         range(cw.start, cw.stop), cell=cell, scale=max(scale_of(res), 1e-12), marked=lit,
                         row_labels=lambda r: self.row_label(ctx, r, bn), label_width=LABEL)]
        return out

    def block_lines(self, ctx: Context) -> list:
        """The (N, C, ...) batch as blocks, the current statistic's values lit, its statistics below."""
        trace, step = ctx.trace, ctx.step
        p, g = step.unit, step.highlight["group"]
        stats = self.stat_rows(trace, p, g)
        lit = as_blocks(trace.members(g))
        values, fresh = self.block_values(trace, p, g)
        n, c = (int(i[0]) for i in np.nonzero(lit.any(axis=(2, 3))))  # the first sample and channel lit
        layout = fit_blocks(values.shape, ctx.width, cell_width(values), c, ctx.pan_cols)
        h = values.shape[2]
        strip = ctx.height - 2 - h * min(values.shape[0], 2) > len(stats)  # room for the statistics' numbers
        under = len(stats) + 1 if strip else 2
        bands = Window.around(n, max((ctx.height - 2 - under) // h, 1), values.shape[0], ctx.pan_rows)
        shown = ("x", "x_hat", "y")[max(p - 1, 0)]
        out = [title(shown, self.block_title(trace, layout.numbers, bands, layout.channels)),
               *block_rows(values, lit, fresh, layout, bands)]
        return out + (self.stat_strip(trace, stats, g, ctx.width) if strip else self.stat_summary(trace, p, g, stats))

    @staticmethod
    def block_values(trace, p: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """What the blocks show: x while the statistics are taken; then x_hat, then y, group by group,
        the groups not reached yet keeping the previous phase's values (drawn dim)."""
        s, layer, shape = trace.stats, trace.layer, trace.input.shape
        if p < 2:
            return as_blocks(trace.input), np.ones(as_blocks(trace.input).shape, dtype=bool)
        before, now = ("x", "x_hat") if p == 2 else ("x_hat", "y")
        done = np.arange(trace.group_total) <= g
        rows = np.where(done[:, None], s[now], s[before])
        fresh = np.broadcast_to(done[:, None], s[now].shape)
        return as_blocks(layer.unmatrix(rows, shape)), as_blocks(layer.unmatrix(fresh, shape))

    def block_title(self, trace, numbers: bool, bands: Window, channels: Window) -> str:
        if not numbers:
            return f"over {','.join(self.axes(trace))}"
        over = f"over {', '.join(self.axes(trace))}"
        return f"{self.legend(trace)}samples {bands.label()}, channels {channels.label()}; each statistic {over}"

    @staticmethod
    def axes(trace) -> tuple[str, ...]:
        """The axes one statistic is taken over, named as in the blocks: n, c, h, w (l for a sequence)."""
        raise NotImplementedError

    def stat_strip(self, trace, stats: list[StatRow], g: int, width: int) -> list:
        """The statistics under the blocks, around the current one, named; m: how many values each is over."""
        cell = max(5, len(self.short(trace, g)))
        win = Window.around(g, max((width - LABEL) // (cell + 1), 1), trace.group_total)
        m = trace.stats["x"].shape[1]
        rows = [Strip(f"m={m}", None, win, cell=cell, label_width=LABEL, text=lambda i: self.short(trace, i))]
        for row in stats:
            rows.append(Strip(row.label, row.values, win, cell=cell, scale=scale_of(row.values),
                              label_width=LABEL, mark=lambda i, at=row.lit: i == at,
                              text=lambda i, known=row.known: None if known[i] else "·"))
        return rows

    def stat_summary(self, trace, p: int, g: int, stats: list[StatRow]) -> list:
        """Two short lines for a narrow view: how many statistics over how many values, and this one."""
        m = trace.stats["x"].shape[1]
        first = Text(f"{trace.group_total} stats, m={m}", style="dim", no_wrap=True)
        if p >= 2:
            return [first, Text(f"{self.short(trace, g)} {trace.layer.results[trace.layer.phases[p]]} "
                                f"{g + 1}/{trace.group_total}", no_wrap=True)]
        return [first, Text(f"{self.short(trace, g)} {stats[p].label} {val(stats[p].values[g])}", no_wrap=True)]

    def legend(self, trace) -> str:
        """What the statistics' rows are, when a kind has more than the two (the start of the title)."""
        return ""

    def row_label(self, ctx: Context, r: int, bn: bool) -> str:
        if ctx.labels and r < len(ctx.labels) and (not bn or ctx.trace.input.ndim == 2):
            return ctx.labels[r]
        return f"s{r + 1}"

    def header(self, cols: list[int], features: int, cell: int, names: list[str]) -> Text:
        line = Text(pad_cells("", LABEL), no_wrap=True, style="dim")
        for c in cols:
            name = f"f{c + 1}" if c < features else names[c - features]
            line.append(" " + name.rjust(cell)[:cell])
        return line

    # --- the formula bar --------------------------------------------------------------------------

    @classmethod
    def formula(cls, ctx: Context) -> tuple[str, str]:
        trace, step = ctx.trace, ctx.step
        return cls.live(trace, step, cls.where(trace, step.highlight["group"])), cls.context(trace, step)

    @classmethod
    def context(cls, trace, step) -> str:
        return cls.reduces(trace)

    @staticmethod
    def live(trace, step, what: str) -> str:
        v = step.values
        xs = v["x"]
        m = xs.size
        if step.phase == "mean":
            terms = plus(*(val(a) for a in xs[:5])) + (" + ..." if m > 5 else "")
            return f"mean[{what}] = ({terms}) / {m} = {val(v['mean'])}"
        if step.phase == "var":
            sq = " + ".join(f"({plus(val(a), val(-v['mean']))})^2" for a in xs[:2]) + (" + ..." if m > 2 else "")
            return f"var[{what}] = ({sq}) / {m} = {val(v['var'])}"
        if step.phase == "normalise":
            return (f"x_hat[{what}] = ({plus('x', val(-v['mean']))}) / sqrt({val(v['var'])} + {v['eps']:g}) = "
                    + ", ".join(val(a) for a in v["x_hat"][:4]) + (", ..." if m > 4 else ""))
        gamma, beta = np.unique(v["gamma"]), np.unique(v["beta"])
        gs = val(gamma[0]) if gamma.size == 1 else "gamma"
        bs = val(beta[0]) if beta.size == 1 else "beta"
        ys = ", ".join(val(a) for a in v["y"][:4]) + (", ..." if m > 4 else "")
        return f"y[{what}] = {gs} * x_hat + {bs} = {ys}"


class BatchNormView(NormView):
    """Train: the batch's statistics, the running ones (r mean, r var) stepping toward them. Eval: the
    running statistics normalise, beside the batch's own (b mean, b var), which are not used."""

    across_batch = True

    @classmethod
    def stat_rows(cls, trace, p: int, g: int) -> list[StatRow]:
        s, layer = trace.stats, trace.layer
        before = layer.running(trace.group_total)
        if layer.mode == "eval":
            used = super().stat_rows(trace, p, g)
            every = np.ones(trace.group_total, dtype=bool)
            return [row._replace(label="r " + row.label) for row in used] + \
                [StatRow("b mean", s["batch_mean"], every), StatRow("b var", s["batch_var"], every)]
        rows = super().stat_rows(trace, p, g)
        for row, name, old in zip(list(rows), ("running_mean", "running_var"), before):
            rows.append(StatRow("r " + row.label, np.where(row.known, s[name], old), np.ones_like(row.known),
                                g if p < 2 else None))
        return rows

    @staticmethod
    def where(trace, g: int) -> str:
        return f"{'feature' if trace.input.ndim == 2 else 'channel'} {g + 1}"

    @staticmethod
    def short(trace, g: int) -> str:
        return f"c{g + 1}"

    @staticmethod
    def axes(trace) -> tuple[str, ...]:
        return ("n", *positions(trace.input.ndim))

    def legend(self, trace) -> str:
        if trace.layer.mode == "eval":
            return "eval: r = running (used), b = batch (not used); "
        return f"train: r = running, momentum {trace.layer.momentum:g}; "

    @staticmethod
    def reduces(trace) -> str:
        n, layer = trace.input.shape, trace.layer
        per = "feature" if len(n) == 2 else "channel"
        if layer.mode == "eval":
            return f"BatchNorm eval: per {per}, running_mean and running_var from training (eps {layer.eps:g})"
        return f"BatchNorm: per {per}, across the batch of {n[0]} (biased variance, eps {layer.eps:g})"

    @classmethod
    def context(cls, trace, step) -> str:
        v, layer = step.values, trace.layer
        if step.phase not in ("mean", "var"):
            return cls.reduces(trace)
        what = f"[{step.highlight['group'] + 1}]"
        if layer.mode == "eval":
            own = v.get("batch_var" if step.phase == "var" else "batch_mean")
            if step.phase == "var" and own == 0:
                return "this batch alone has var 0: x - mean = 0, so with it every y would be beta"
            return f"eval: the running statistic, not this batch's own ({step.phase} {val(own)})"
        k = layer.momentum
        if step.phase == "mean":
            return (f"running_mean{what} = {1 - k:g} * {val(v['running_mean_before'])} + {k:g} * {val(v['mean'])}"
                    f" = {val(v['running_mean'])}   (momentum {k:g})")
        m = v["x"].size
        return (f"running_var{what} = {1 - k:g} * {val(v['running_var_before'])} + {k:g} * {val(v['var'])} * "
                f"{m}/{m - 1} = {val(v['running_var'])}   (unbiased: m/(m-1))")

    @staticmethod
    def live(trace, step, what: str) -> str:
        if trace.layer.mode == "eval" and step.phase in ("mean", "var"):
            name = "running_" + step.phase
            return f"{step.phase}[{what}] = {name} = {val(step.values[step.phase])}"
        return NormView.live(trace, step, what)


class LayerNormView(NormView):
    across_batch = False

    @classmethod
    def where(cls, trace, g: int) -> str:
        return cls.short(trace, g) if cls.blocks(trace) else NormView.where(trace, g)

    @classmethod
    def reduces(cls, trace) -> str:
        return f"LayerNorm: {cls.per_sample(trace)} (last axis, eps {trace.layer.eps:g})"

    @classmethod
    def per_sample(cls, trace) -> str:
        w = trace.input.shape[-1]
        if cls.blocks(trace):
            return f"per row (n, c, h), across its {w} values"
        return f"per sample, across its {w} features"

    @staticmethod
    def short(trace, g: int) -> str:
        return "".join(f"{a}{i + 1}" for a, i in zip("nch", np.unravel_index(g, trace.input.shape[:-1])))

    @staticmethod
    def axes(trace) -> tuple[str, ...]:
        return ("w",)


class RMSNormView(LayerNormView):
    """LayerNorm's rows with the mean of squares and the rms beside them: no mean is subtracted."""

    labels = ("ms", "rms")

    @classmethod
    def reduces(cls, trace) -> str:
        return f"RMSNorm: {cls.per_sample(trace)} (last axis, eps {trace.layer.eps:g}); no mean is subtracted"

    @classmethod
    def context(cls, trace, step) -> str:
        v = step.values
        if step.phase in ("rms", "normalise"):
            mean = float(np.mean(v["x"]))
            var = float(np.mean((v["x"] - mean) ** 2))
            return f"ms = mean^2 + var = {val(mean)}^2 + {val(var)}: mean {val(mean)} kept (LayerNorm subtracts it)"
        return cls.reduces(trace)

    @staticmethod
    def live(trace, step, what: str) -> str:
        v = step.values
        xs = v["x"]
        m = xs.size
        more = lambda n: ", ..." if m > n else ""  # noqa: E731
        if step.phase == "mean of squares":
            terms = " + ".join(f"{val(a)}^2" for a in xs[:4]) + (" + ..." if m > 4 else "")
            return f"ms[{what}] = ({terms}) / {m} = {val(v['ms'])}"
        if step.phase == "rms":
            return f"rms[{what}] = sqrt({val(v['ms'])} + {v['eps']:g}) = {val(v['rms'])}"
        if step.phase == "normalise":
            return f"x_hat[{what}] = x / {val(v['rms'])} = " + ", ".join(val(a) for a in v["x_hat"][:4]) + more(4)
        gamma = np.unique(v["gamma"])
        gs = val(gamma[0]) if gamma.size == 1 else "gamma"
        return f"y[{what}] = {gs} * x_hat = " + ", ".join(val(a) for a in v["y"][:4]) + more(4)
