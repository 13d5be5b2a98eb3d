"""Dropout: one coin per element against p, kept values scaled by 1/(1-p), and a tally over samples."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from stepper.tui.base import Context, FamilyView, title
from stepper.tui.render import Strip, Window, scale_of, val

LABEL = 10
CELL = 6


def columns(ctx: Context) -> int:
    return max(1, (ctx.width - LABEL) // (CELL + 1))


class DropoutView(FamilyView):
    """Elements in reading order across the screen; the current one is lit, later ones still blank."""

    def lines(self, ctx: Context) -> list:
        trace, step = ctx.trace, ctx.step
        layer = trace.layer
        x, y = trace.input.ravel(), trace.output.ravel()
        k = step.index
        win = Window.around(k, columns(ctx), x.size, ctx.pan_cols)
        scale = max(scale_of(x), scale_of(y), 1e-12)
        lit = lambda i: i == k  # noqa: E731
        future = lambda i, text: (lambda j: text(j) if j <= k else "·")  # noqa: E731
        shape = trace.input.shape
        index = lambda i: ",".join(str(int(a)) for a in np.unravel_index(i, shape))  # noqa: E731
        keep = trace.keep.ravel()
        out = [Text(f"elements {win.label()}   p = {layer.p:g}, scale 1/(1-p) = {layer.scale:g}, mode "
                    f"{layer.mode}   [ ] page", style="dim"),
               Strip("element", None, win, cell=CELL, label_width=LABEL, mark=lit, text=index),
               Strip("x", x, win, cell=CELL, scale=scale, label_width=LABEL, mark=lit)]
        if layer.mode == "eval":
            coin = future(0, lambda j: "eval")
            out.append(Strip("coin", None, win, cell=CELL, label_width=LABEL, mark=lit, text=coin))
        elif trace.u is not None:
            u = trace.u.ravel()
            out.append(Strip("u ~ U(0,1)", None, win, cell=CELL, label_width=LABEL, mark=lit,
                             text=future(0, lambda j: f"{u[j]:.3f}")))
        else:
            out.append(Strip("mask", None, win, cell=CELL, label_width=LABEL, mark=lit,
                             text=future(0, lambda j: str(int(keep[j])))))
        out.append(Strip("keep?", None, win, cell=CELL, label_width=LABEL, mark=lit,
                         text=future(0, lambda j: "keep" if keep[j] else "DROP")))
        out.append(Strip("y", y, win, cell=CELL, scale=scale, label_width=LABEL, mark=lit,
                         text=lambda j: None if j <= k else "·"))
        tally = ctx.tally
        if tally and tally.samples > 1:  # one sample would give away what the steps have yet to show
            out.append(title(f"over all {tally.samples} samples drawn", "r: another sample, e: train/eval"))
            kept = tally.kept.ravel() / tally.samples
            mean = tally.total.ravel() / tally.samples
            out.append(Strip("kept", None, win, cell=CELL, label_width=LABEL,
                             text=lambda j: f"{100 * kept[j]:.0f}%"))
            out.append(Strip("mean y", mean, win, cell=CELL, scale=scale, label_width=LABEL))
            gap = float(np.abs(mean - x).mean())
            out.append(Text(f"mean |mean y - x| = {gap:.3g}: with more samples the mean output approaches x",
                            style="dim"))
        else:
            out.append(Text("press r for a fresh sample: a tally of kept elements and the mean output appears",
                            style="dim"))
        return out

    @staticmethod
    def formula(ctx: Context) -> tuple[str, str]:
        step, layer = ctx.step, ctx.trace.layer
        v = step.values
        at = ",".join(str(a) for a in step.highlight["element"])
        if layer.mode == "eval":
            line = f"x[{at}] = {val(v['x'])}: eval mode, dropout is the identity: y = x = {val(v['y'])}"
        else:
            coin = (f"u = {v['u']:.3f} {'>=' if v['keep'] else '<'} p = {layer.p:g}" if "u" in v
                    else f"mask = {int(v['keep'])}")
            result = (f"kept: y = x / (1 - p) = {val(v['x'])} * {layer.scale:g} = {val(v['y'])}" if v["keep"]
                      else f"dropped: y = {val(v['y'])}")
            line = f"x[{at}] = {val(v['x'])}: {coin} -> {result}"
        rule = ("train: drop each element when its coin u < p, scale the rest by 1/(1-p); eval: identity"
                if layer.mode == "train" else "eval mode: nothing is dropped or scaled (press e for train)")
        return line, rule
