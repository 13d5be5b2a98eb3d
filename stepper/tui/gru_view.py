"""The GRU view: the reset and update gates as rows of values in (0, 1), the reset applied to
h_{t-1} W_n, the candidate n_t, the blend of n_t and h_{t-1}, and h_1..h_t unrolled below."""

from __future__ import annotations

from stepper.tui.lstm_view import GatedView, percent
from stepper.tui.render import plus, val


class GRUView(GatedView):
    ROWS = (("h_{t-1}", "h_prev"), ("r_t reset", "r_t"), ("z_t update", "z_t"), ("r*h W_n", "reset"),
            ("n_t cand.", "n_t"), ("(1-z)*n_t", "new"), ("+z*h_{t-1}", "old"), ("= h_t", "h_t"))
    GATES = frozenset(("r_t", "z_t"))
    SIGNED = ("gates", "reset", "new", "old", "h")
    CARRIED = "h"

    @classmethod
    def live(cls, v, phase: str, j: int) -> str:
        if phase == "reset gate":
            return f"{cls.gate_line(v, 'r', j)}: lets {percent(v['r_t'][j])} of (h_{{t-1}} W_n)[{j}] through"
        if phase == "update gate":
            return f"{cls.gate_line(v, 'z', j)}: keeps {percent(v['z_t'][j])} of h_{{t-1}}[{j}]"
        if phase == "reset":
            return f"reset[{j}] = {val(v['r_t'][j])} * {val(v['hW_n'][j])} = {val(v['reset'][j])}"
        if phase == "candidate":
            parts = plus(*(val(v[k][j]) for k in ("xU_n", "reset", "b_n")))
            return f"n_t[{j}] = tanh({parts}) = tanh({val(v['a_n'][j])}) = {val(v['n_t'][j])}"
        z = val(v["z_t"][j])
        return f"h_t[{j}] = (1 - {z}) * {val(v['n_t'][j])} + {z} * {val(v['h_prev'][j])} = {val(v['h_t'][j])}"
