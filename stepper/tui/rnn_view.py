"""The RNN view: the token strip, each phase's vectors, and h_1..h_t unrolled as time advances."""

from __future__ import annotations

from rich.text import Text

from stepper.tui.base import Context, FamilyView
from stepper.engine.rnn import RESULTS
from stepper.tui.render import Strip, Window, pad_cells, plus, scale_of, val

LABEL = 10
CELL = 6
ROWS = (("x_t", "x_t"), ("h_{t-1}", "h_prev"), ("x_t U", "xU"), ("h_{t-1} W", "hW"), ("+ b", "b"),
        ("= a_t", "a_t"), ("h_t", "h_t"))


def columns(ctx: Context) -> int:
    return max(1, (ctx.width - LABEL) // (CELL + 1))


def colour_scale(trace) -> float:
    """One colour scale for every vector of the layer (the largest |a_t| or |h_t|), so a cell's
    colour changes only when its number does, and a step repaints only the rows it fills."""
    return max(scale_of(trace.output), scale_of(trace.pre), 1e-12)


def lines_per_vector(ctx: Context) -> int:
    """On a tall screen each vector wraps onto more lines, so more of a 128-wide state shows."""
    return max(1, (ctx.height - 2) // (len(ROWS) + min(len(ctx.trace.input), 8)))


def strips(label: str, values, page: Window, n: int, scale: float) -> list[Strip]:
    """``page`` of a vector as lines of ``n`` cells; the label on the first line only."""
    out = []
    for start in range(page.start, page.stop, n):
        line = Window(start, min(n, page.stop - start), page.total)
        out.append(Strip(label if start == page.start else "", values, line, cell=CELL, scale=scale,
                         label_width=LABEL))
    return out


def token(ctx: Context, t: int) -> str:
    return ctx.labels[t] if t < len(ctx.labels) else f"x{t + 1}"


class RNNView(FamilyView):
    """x_t, h_{t-1}, x_t U, h_{t-1} W, b, a_t and h_t as value-coloured cells, paged with [ and ]."""

    def lines(self, ctx: Context) -> list:
        step, trace = ctx.step, ctx.trace
        t = step.highlight["t"]
        n, per = columns(ctx), lines_per_vector(ctx)
        hw = Window.around(None, n * per, trace.layer.hidden, ctx.pan_cols)
        xw = Window.around(None, n * per, trace.input.shape[1], ctx.pan_cols)
        scale = colour_scale(trace)
        out = [self.tokens(ctx, t, hw, xw)]
        for label, key in ROWS:
            window, s = (xw, scale_of(trace.input)) if key == "x_t" else (hw, scale)
            out += strips(label, step.values.get(key), window, n, s)
        done = t + 1 if step.phase == "act" else t
        out.append(Text(f"unrolled: h_1 .. h_{max(done, 1)} carried on, one row per time step", style="dim"))
        room = max((ctx.height - len(out)) // per, 1)
        first = max(0, done - room)
        for r in range(first, min(done, first + room)):
            out += strips(f"h_{r + 1} {token(ctx, r)}", trace.output[r], hw, n, scale)
        return out

    def tokens(self, ctx: Context, t: int, hw: Window, xw: Window) -> Text:
        line = Text(pad_cells("tokens", LABEL), style="bold", no_wrap=True)
        for i in range(len(ctx.trace.input)):
            style = "bold reverse" if i == t else ("" if i < t else "dim")
            line.append(" ")
            line.append(token(ctx, i), style=style)
        line.append(f"   units {hw.label()}, x {xw.label()}  [ ] page", style="dim")
        return line

    @staticmethod
    def formula(ctx: Context) -> tuple[str, str]:
        step, trace = ctx.step, ctx.trace
        layer = trace.layer
        t = step.highlight["t"]
        j = Window.around(None, columns(ctx), layer.hidden, ctx.pan_cols).start
        v = step.values
        n_in = trace.input.shape[1]
        if step.phase in ("xU", "hW"):
            vec, mat, name, n = (v["x_t"], layer.U, "x_t U", n_in) if step.phase == "xU" else \
                (v["h_prev"], layer.W, "h_{t-1} W", layer.hidden)
            terms = plus(*(f"{val(vec[i])}*{val(mat[i, j])}" for i in range(min(3, n))))
            more = f" + ... ({n} products)" if n > 3 else ""
            live = f"({name})[{j}] = {terms}{more} = {val(v[RESULTS[step.phase]][j])}"
        elif step.phase == "bias":
            live = f"a_t[{j}] = " + plus(val(v["xU"][j]), val(v["hW"][j]), val(layer.b[j])) + f" = {val(v['a_t'][j])}"
        else:
            live = f"h_t[{j}] = {layer.activation}({val(v['a_t'][j])}) = {val(v['h_t'][j])}"
        shapes = (f"t = {t + 1} of {len(trace.input)} ({token(ctx, t)}), unit {j} of {layer.hidden}: x_t 1x{n_in}, "
                  f"U {n_in}x{layer.hidden}, W {layer.hidden}x{layer.hidden}, b {layer.hidden}")
        return live, shapes
