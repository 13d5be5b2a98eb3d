"""A simple (Elman) RNN: h_t = act(x_t U + h_{t-1} W + b), one time step after another.

Each time step is shown in four phases, as on the blackboard:
``xU`` (x_t U), ``hW`` (h_{t-1} W), ``bias`` (+ b, the pre-activation) and ``act`` (h_t).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stepper.engine.trace import Layer, Param, Step, Trace, frozen

PHASES = ("xU", "hW", "bias", "act")
FORMULAS = {
    "xU": "x_t U",
    "hW": "h_{t-1} W",
    "bias": "a_t = x_t U + h_{t-1} W + b",
    "act": "h_t = {act}(a_t)",
}
RESULTS = {"xU": "xU", "hW": "hW", "bias": "a_t", "act": "h_t"}
ACTIVATIONS = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}


def init_weights(rng: np.random.Generator, inputs: int, hidden: int) -> dict[str, np.ndarray]:
    """PyTorch's default: every weight and bias uniform in +-1/sqrt(hidden) (U, then W, then b)."""
    bound = 1.0 / np.sqrt(hidden)
    return {
        "U": rng.uniform(-bound, bound, (inputs, hidden)),
        "W": rng.uniform(-bound, bound, (hidden, hidden)),
        "b": rng.uniform(-bound, bound, hidden),
    }


@dataclass(frozen=True, eq=False)
class RNN(Layer):
    """A one-layer RNN over a (T, I) sequence, giving (T, hidden)."""

    keeps_rows = True  # h_t is the state after token t

    U: np.ndarray
    W: np.ndarray
    b: np.ndarray
    h0: np.ndarray | None = None
    activation: str = "tanh"
    seeded: bool = field(default=False, kw_only=True)
    type: str = field(init=False, default="rnn")

    def __post_init__(self) -> None:
        for name in ("U", "W", "b"):
            object.__setattr__(self, name, frozen(getattr(self, name)))
        h0 = np.zeros(self.hidden) if self.h0 is None else self.h0
        object.__setattr__(self, "h0", frozen(h0))

    @property
    def hidden(self) -> int:
        return int(self.W.shape[0])

    def params(self) -> list[Param]:
        return [Param(n, getattr(self, n), self.seeded) for n in ("U", "W", "b")]

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0], self.hidden)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return shape[0] * len(PHASES)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        act = ACTIVATIONS[self.activation]
        xu = x @ self.U  # every x_t U at once: it does not depend on h
        hs = np.empty((len(x), self.hidden))
        hw = np.empty_like(hs)
        h = self.h0
        for t in range(len(x)):
            hw[t] = h @ self.W
            h = hs[t] = act(xu[t] + hw[t] + self.b)
        return xu, hw, hs

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._run(np.asarray(x, dtype=np.float64))[2]

    def trace(self, x: np.ndarray) -> RNNTrace:
        return RNNTrace(self, np.asarray(x, dtype=np.float64))


class RNNTrace(Trace):
    layer: RNN

    def __init__(self, layer: RNN, x: np.ndarray) -> None:
        xu, hw, hs = layer._run(x)
        super().__init__(layer, x, hs, len(x) * len(PHASES))
        self.xu, self.hw = frozen(xu), frozen(hw)
        self.pre = frozen(xu + hw + layer.b)  # a_t for every t

    def unit_start(self, unit: int) -> int:
        return unit * len(PHASES)

    def unit_of(self, k: int) -> int:
        return k // len(PHASES)

    def step(self, k: int) -> Step:
        layer = self.layer
        t, p = divmod(k, len(PHASES))
        phase = PHASES[p]
        h_prev = layer.h0 if t == 0 else self.output[t - 1]
        values = {"x_t": self.input[t], "h_prev": h_prev, "xU": self.xu[t]}
        if p >= 1:
            values["hW"] = self.hw[t]
        if p >= 2:
            values["b"] = layer.b
            values["a_t"] = self.pre[t]
        if p >= 3:
            values["h_t"] = self.output[t]
        done = (t + (p == 3)) * layer.hidden
        return Step(
            index=k,
            phase=phase,
            unit=t,
            formula=FORMULAS[phase].replace("{act}", layer.activation),
            highlight={"t": t},
            values=values,
            output=self.output,
            done=done,
            result=RESULTS[phase],
            note=layer.note_for(k),
        )
