"""GRU: two gates in (0, 1) blend the previous state with a candidate; there is no separate cell.

    r_t = σ(x_t U_r + h_{t-1} W_r + b_r)                reset gate: how much of h_{t-1} W_n the candidate sees
    z_t = σ(x_t U_z + h_{t-1} W_z + b_z)                update gate: how much of h_{t-1} is kept
    n_t = tanh(x_t U_n + r_t ⊙ (h_{t-1} W_n) + b_n)     candidate
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

This is PyTorch's GRU with its b_hn at zero (b_r and b_z are its b_ih + b_hh, b_n is its b_in).
A time step is shown in five phases: the two gates, the reset applied to h_{t-1} W_n, the
candidate, and the blend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stepper.engine.lstm import Gated, GatedTrace, sigmoid
from stepper.engine.trace import Step

FORMULAS = {
    "reset gate": "r_t = σ(x_t U_r + h_{t-1} W_r + b_r)",
    "update gate": "z_t = σ(x_t U_z + h_{t-1} W_z + b_z)",
    "reset": "reset = r_t ⊙ (h_{t-1} W_n)",
    "candidate": "n_t = tanh(x_t U_n + r_t ⊙ (h_{t-1} W_n) + b_n)",
    "blend": "h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}",
}
RESULTS = {"reset gate": "r_t", "update gate": "z_t", "reset": "reset", "candidate": "n_t", "blend": "h_t"}


@dataclass(frozen=True, eq=False)
class GRU(Gated):
    """A one-layer GRU over a (T, I) sequence, giving (T, hidden): h_1..h_T."""

    GATES = "rzn"
    FORMULAS, RESULTS, PHASES = FORMULAS, RESULTS, tuple(FORMULAS)
    type: str = field(init=False, default="gru")

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        t_len = len(x)
        xu = np.moveaxis(x @ self.U, 0, 1)  # (T, 3, H)
        hw, pre, act = (np.empty((t_len, 3, self.hidden)) for _ in range(3))
        reset, new, old, h = (np.empty((t_len, self.hidden)) for _ in range(4))
        h_prev = self.h0
        for t in range(t_len):
            hw[t] = h_prev @ self.W
            pre[t, :2] = xu[t, :2] + hw[t, :2] + self.b[:2]
            act[t, :2] = sigmoid(pre[t, :2])
            r, z = act[t, :2]
            reset[t] = r * hw[t, 2]
            pre[t, 2] = xu[t, 2] + reset[t] + self.b[2]
            act[t, 2] = np.tanh(pre[t, 2])
            new[t], old[t] = (1 - z) * act[t, 2], z * h_prev
            h_prev = h[t] = new[t] + old[t]
        return {"xU": xu, "hW": hw, "a": pre, "gates": act, "reset": reset, "new": new, "old": old, "h": h}

    def trace(self, x: np.ndarray) -> GRUTrace:
        return GRUTrace(self, np.asarray(x, dtype=np.float64))


class GRUTrace(GatedTrace):
    layer: GRU

    def step(self, k: int) -> Step:
        t, p = divmod(k, self.phases)
        parts = self.parts
        known, current = ((1, 0), (2, 1), (2, None), (3, 2), (3, None))[p]  # gates known, gate computed
        values = {"x_t": self.input[t], "h_prev": self.layer.h0 if t == 0 else self.output[t - 1],
                  **self.gate_values(t, known, current)}
        if p == 2:
            values["hW_n"] = parts["hW"][t, 2]
        if p >= 2:
            values["reset"] = parts["reset"][t]
        if p >= 4:
            values.update(new=parts["new"][t], old=parts["old"][t], h_t=self.output[t])
        return self.make_step(k, values)
