"""The LSTM view: the four gates as rows of values in (0, 1), the forget gate scaling c_{t-1}, the
input gate admitting g_t, c_t and h_t, and c_1..c_t unrolled below as time advances.

`GatedView` is what the LSTM and GRU views share: rows that fill in as their phase arrives (the row
being computed has its label lit), gates drawn unsigned on a 0-to-1 colour scale, other vectors
signed on one scale for the whole layer, and the carried state unrolled one row per time step.
"""

from __future__ import annotations

from rich.text import Text

from stepper.tui.base import Context, FamilyView
from stepper.tui.render import BOLD, DIM, EMPTY, LIT, Piece, Row, Window, cell_piece, colour, pad_cells, plus, \
    scale_of, val
from stepper.tui.rnn_view import CELL, LABEL, columns, token

SIGMA = "σ"


def gate_cell(values, i: int, scale: float, gate: bool) -> Piece:
    """One cell: a gate's value as the fraction it lets through (0.000 shut .. 1.000 open), or a
    signed number; a dim dot while not computed yet."""
    if values is None:
        return EMPTY.rjust(CELL), DIM
    if not gate:
        return cell_piece(values, i, CELL, scale)
    v = float(values[i])
    return f"{v:.3f}".rjust(CELL), colour(v, 1.0)


def vector(label: str, values, page: Window, n: int, scale: float, gate: bool, lit: bool) -> list[Row]:
    """``page`` of a vector as lines of ``n`` cells, the label on the first line (lit while this
    step computes the vector)."""
    rows = []
    for start in range(page.start, page.stop, n):
        first = start == page.start
        pieces: list[Piece] = [(pad_cells(label if first else "", LABEL), LIT if lit and first else BOLD)]
        for i in range(start, min(start + n, page.stop)):
            pieces += [(" ", None), gate_cell(values, i, scale, gate)]
        rows.append(Row(pieces))
    return rows


def percent(v: float) -> str:
    return f"{100 * v:.0f}%"


class GatedView(FamilyView):
    """A gated recurrent layer, one time step at a time; subclasses name the rows and the state carried."""

    ROWS: tuple[tuple[str, str], ...] = ()  # (label, key in the step's values)
    GATES: frozenset[str] = frozenset()  # keys of the rows that are gates
    SIGNED: tuple[str, ...] = ()  # the trace's parts that share the signed colour scale
    CARRIED = ""  # the state unrolled below: "c" or "h"

    def lines(self, ctx: Context) -> list:
        step, trace = ctx.step, ctx.trace
        t = step.highlight["t"]
        n = columns(ctx)
        per = max(1, (ctx.height - 2) // (len(self.ROWS) + min(len(trace.input), 8)))  # lines per vector
        page = Window.around(None, n * per, trace.layer.hidden, ctx.pan_cols)
        scale = max(max(scale_of(trace.parts[k]) for k in self.SIGNED), 1e-12)  # one per layer: a cell's
        # colour changes only with its number, so a step repaints only the rows it fills
        out = [self.tokens(ctx, t, page)]
        for label, key in self.ROWS:
            out += vector(label, step.values.get(key), page, n, scale, key in self.GATES, key == step.result)
        name = self.CARRIED
        done = t + 1 if f"{name}_t" in step.values else t  # states computed so far
        out.append(Text(f"unrolled: {name}_1 .. {name}_{max(done, 1)} carried on, one row per time step", style="dim"))
        room = max((ctx.height - len(out)) // per, 1)
        first = max(0, done - room)
        for r in range(first, min(done, first + room)):
            out += vector(f"{name}_{r + 1} {token(ctx, r)}", trace.parts[name][r], page, n, scale, False, False)
        return out

    def tokens(self, ctx: Context, t: int, page: Window) -> Text:
        line = Text(pad_cells("tokens", LABEL), style="bold", no_wrap=True)
        for i in range(len(ctx.trace.input)):
            line.append(" ")
            line.append(token(ctx, i), style="bold reverse" if i == t else ("" if i < t else "dim"))
        line.append(f"   units {page.label()}, gates 0 shut .. 1 open  [ ] page", style="dim")
        return line

    @classmethod
    def formula(cls, ctx: Context) -> tuple[str, str]:
        step, trace = ctx.step, ctx.trace
        layer = trace.layer
        t, j = step.highlight["t"], Window.around(None, columns(ctx), layer.hidden, ctx.pan_cols).start
        n_in, h = trace.input.shape[1], layer.hidden
        shapes = (f"t = {t + 1} of {len(trace.input)} ({token(ctx, t)}), unit {j} of {h}: each gate has U {n_in}x{h}, "
                  f"W {h}x{h}, b {h}")
        return cls.live(step.values, step.phase, j), shapes

    @staticmethod
    def gate_line(v, z: str, j: int, squash: str = SIGMA) -> str:
        """`f_t[0] = σ(0.1 - 0.2 + 0.3) = σ(0.2) = 0.5498`: gate z's sum at unit j, squashed."""
        parts = plus(*(val(v[f"{k}_{z}"][j]) for k in ("xU", "hW", "b")))
        return f"{z}_t[{j}] = {squash}({parts}) = {squash}({val(v[f'a_{z}'][j])}) = {val(v[f'{z}_t'][j])}"

    @staticmethod
    def live(v, phase: str, j: int) -> str:
        """This step's formula at unit ``j`` with its numbers."""
        raise NotImplementedError


class LSTMView(GatedView):
    ROWS = (("i_t input", "i_t"), ("f_t forget", "f_t"), ("g_t cand.", "g_t"), ("o_t output", "o_t"),
            ("c_{t-1}", "c_prev"), ("f*c_{t-1}", "kept"), ("+ i_t*g_t", "written"), ("= c_t", "c_t"),
            ("h_t", "h_t"))
    GATES = frozenset(("i_t", "f_t", "o_t"))
    SIGNED = ("gates", "kept", "written", "c", "h")
    CARRIED = "c"
    SAYS = {"input gate": "lets {} of g_t[{j}] into the cell", "forget gate": "keeps {} of c_{{t-1}}[{j}]",
            "output gate": "shows {} of tanh(c_t[{j}])"}

    @classmethod
    def live(cls, v, phase: str, j: int) -> str:
        if phase in cls.SAYS:
            z = phase[0]
            return f"{cls.gate_line(v, z, j)}: " + cls.SAYS[phase].format(percent(v[f"{z}_t"][j]), j=j)
        if phase == "candidate":
            return f"{cls.gate_line(v, 'g', j, 'tanh')}: what the cell may take in"
        if phase == "forget":
            return f"kept[{j}] = {val(v['f_t'][j])} * {val(v['c_prev'][j])} = {val(v['kept'][j])}"
        if phase == "admit":
            return f"written[{j}] = {val(v['i_t'][j])} * {val(v['g_t'][j])} = {val(v['written'][j])}"
        if phase == "cell":
            return f"c_t[{j}] = {plus(val(v['kept'][j]), val(v['written'][j]))} = {val(v['c_t'][j])}"
        o = val(v["o_t"][j])
        return f"h_t[{j}] = {o} * tanh({val(v['c_t'][j])}) = {o} * {val(v['tanh_c'][j])} = {val(v['h_t'][j])}"
