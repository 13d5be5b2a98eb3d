"""LSTM: gates in (0, 1) decide what a cell state c_t forgets, what it takes in and what it shows.

    i_t = σ(x_t U_i + h_{t-1} W_i + b_i)       input gate: how much of g_t is written
    f_t = σ(x_t U_f + h_{t-1} W_f + b_f)       forget gate: how much of c_{t-1} is kept
    g_t = tanh(x_t U_g + h_{t-1} W_g + b_g)    candidate: what could be written
    o_t = σ(x_t U_o + h_{t-1} W_o + b_o)       output gate: how much of tanh(c_t) is shown
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t            h_t = o_t ⊙ tanh(c_t)

Row vectors as in the lecture (x_t U); each gate's single b is PyTorch's b_ih + b_hh. A time step is
shown in eight phases: the four gates, then what the cell keeps (f_t ⊙ c_{t-1}), what it takes in
(i_t ⊙ g_t), c_t and h_t. `Gated` is what LSTM and GRU share: one U, W and b per gate, a vectorised
pass over every gate at once, and a trace of a fixed number of phases per time step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from stepper.engine.trace import Layer, Param, Step, Trace, frozen


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^-a), computed without overflow for any a."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def init_gates(rng: np.random.Generator, inputs: int, hidden: int, gates: int, bias_hh: int) -> dict:
    """PyTorch's default: every weight and bias uniform in +-1/sqrt(hidden). Drawn in this order: U
    (gates, I, H), W (gates, H, H), the input biases (gates, H), then the recurrent biases of the first
    ``bias_hh`` gates, which are added: one b per gate is PyTorch's b_ih + b_hh."""
    bound = 1.0 / np.sqrt(hidden)
    U = rng.uniform(-bound, bound, (gates, inputs, hidden))
    W = rng.uniform(-bound, bound, (gates, hidden, hidden))
    b = rng.uniform(-bound, bound, (gates, hidden))
    b[:bias_hh] += rng.uniform(-bound, bound, (bias_hh, hidden))
    return {"U": U, "W": W, "b": b}


@dataclass(frozen=True, eq=False)
class Gated(Layer):
    """A recurrent layer with one U (I, H), W (H, H) and b (H,) per gate, stacked along the first axis."""

    GATES = ""  # one letter per gate, in the order U, W and b stack them
    FORMULAS = RESULTS = MappingProxyType({})  # per phase of a time step: its formula; its result's key
    PHASES = ()  # the phases, as the header names them
    keeps_rows = True  # h_t is the state after token t

    U: np.ndarray
    W: np.ndarray
    b: np.ndarray
    h0: np.ndarray | None = None
    seeded: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        for name in ("U", "W", "b"):
            object.__setattr__(self, name, frozen(getattr(self, name)))
        object.__setattr__(self, "h0", frozen(np.zeros(self.hidden) if self.h0 is None else self.h0))

    @property
    def hidden(self) -> int:
        return int(self.W.shape[-1])

    def gate(self, name: str, letter: str) -> np.ndarray:
        """One gate's U, W or b: ``gate("U", "f")`` is U_f."""
        return getattr(self, name)[self.GATES.index(letter)]

    def params(self) -> list[Param]:
        """U, W and b, each one tensor per gate stacked in GATES order (h0 and c0 are not trained)."""
        return [Param(n, getattr(self, n), self.seeded) for n in ("U", "W", "b")]

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0], self.hidden)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return shape[0] * len(self.PHASES)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.run(np.asarray(x, dtype=np.float64))["h"]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every intermediate of every time step, by name, each with time down the first axis."""
        raise NotImplementedError


FORMULAS = {
    "input gate": "i_t = σ(x_t U_i + h_{t-1} W_i + b_i)",
    "forget gate": "f_t = σ(x_t U_f + h_{t-1} W_f + b_f)",
    "candidate": "g_t = tanh(x_t U_g + h_{t-1} W_g + b_g)",
    "output gate": "o_t = σ(x_t U_o + h_{t-1} W_o + b_o)",
    "forget": "kept = f_t ⊙ c_{t-1}",
    "admit": "written = i_t ⊙ g_t",
    "cell": "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t",
    "hidden": "h_t = o_t ⊙ tanh(c_t)",
}
RESULTS = dict(zip(FORMULAS, ("i_t", "f_t", "g_t", "o_t", "kept", "written", "c_t", "h_t")))  # keys in values


@dataclass(frozen=True, eq=False)
class LSTM(Gated):
    """A one-layer LSTM over a (T, I) sequence, giving (T, hidden): h_1..h_T."""

    GATES = "ifgo"
    FORMULAS, RESULTS, PHASES = FORMULAS, RESULTS, tuple(FORMULAS)
    c0: np.ndarray | None = None
    type: str = field(init=False, default="lstm")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "c0", frozen(np.zeros(self.hidden) if self.c0 is None else self.c0))

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        t_len, gates = len(x), len(self.GATES)
        xu = np.moveaxis(x @ self.U, 0, 1)  # (T, gates, H): every x_t U at once, they do not depend on h
        hw, pre, act = (np.empty((t_len, gates, self.hidden)) for _ in range(3))
        kept, written, c, h = (np.empty((t_len, self.hidden)) for _ in range(4))
        h_prev, c_prev = self.h0, self.c0
        for t in range(t_len):
            hw[t] = h_prev @ self.W
            pre[t] = xu[t] + hw[t] + self.b
            act[t] = sigmoid(pre[t])
            act[t, 2] = np.tanh(pre[t, 2])  # g_t, the candidate, is signed
            i, f, g, o = act[t]
            kept[t], written[t] = f * c_prev, i * g
            c_prev = c[t] = kept[t] + written[t]
            h_prev = h[t] = o * np.tanh(c_prev)
        return {"xU": xu, "hW": hw, "a": pre, "gates": act, "kept": kept, "written": written, "c": c, "h": h}

    def trace(self, x: np.ndarray) -> LSTMTrace:
        return LSTMTrace(self, np.asarray(x, dtype=np.float64))


class GatedTrace(Trace):
    """A gated layer's vectorised pass, kept whole; step k is phase k % phases of time step k // phases."""

    layer: Gated

    def __init__(self, layer: Gated, x: np.ndarray) -> None:
        self.parts = {name: frozen(v) for name, v in layer.run(x).items()}
        self.phases = len(layer.PHASES)
        super().__init__(layer, x, self.parts["h"], len(x) * self.phases)

    def unit_start(self, unit: int) -> int:
        return unit * self.phases

    def unit_of(self, k: int) -> int:
        return k // self.phases

    def gate_values(self, t: int, known: int, current: int | None) -> dict[str, np.ndarray]:
        """The first ``known`` gates of time step ``t``, and for gate number ``current`` (the one this
        step computes) its parts: x_t U, h_{t-1} W, b and the pre-activation a."""
        layer, parts, out = self.layer, self.parts, {}
        for g, letter in enumerate(layer.GATES[:known]):
            out[f"{letter}_t"] = parts["gates"][t, g]
        if current is not None:
            z = layer.GATES[current]
            out.update({f"xU_{z}": parts["xU"][t, current], f"hW_{z}": parts["hW"][t, current],
                        f"b_{z}": layer.b[current], f"a_{z}": parts["a"][t, current]})
        return out

    def make_step(self, k: int, values: dict) -> Step:
        """Step ``k`` with these values; h_t is done at the last phase of its time step."""
        layer = self.layer
        t, p = divmod(k, self.phases)
        phase = layer.PHASES[p]
        return Step(index=k, phase=phase, unit=t, formula=layer.FORMULAS[phase], highlight={"t": t},
                    values=values, output=self.output, done=(t + (p == self.phases - 1)) * layer.hidden,
                    result=layer.RESULTS[phase], note=layer.note_for(k))


class LSTMTrace(GatedTrace):
    layer: LSTM

    def __init__(self, layer: LSTM, x: np.ndarray) -> None:
        super().__init__(layer, x)
        self.c = self.parts["c"]  # c_1..c_T, which the output line carries

    def step(self, k: int) -> Step:
        t, p = divmod(k, self.phases)
        parts, layer = self.parts, self.layer
        gates = self.gate_values(t, min(p + 1, 4), p if p < 4 else None)  # a gate per phase, then all four
        values = {"x_t": self.input[t], "h_prev": layer.h0 if t == 0 else self.output[t - 1],
                  "c_prev": layer.c0 if t == 0 else self.c[t - 1], **gates}
        if p >= 4:
            values["kept"] = parts["kept"][t]
        if p >= 5:
            values["written"] = parts["written"][t]
        if p >= 6:
            values["c_t"] = self.c[t]
        if p >= 7:
            values.update(tanh_c=np.tanh(self.c[t]), h_t=self.output[t])
        return self.make_step(k, values)
