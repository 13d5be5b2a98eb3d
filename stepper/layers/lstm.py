"""`type: lstm`: four gates over a (T, I) sequence; c_t carries the memory, h_t is the output."""

from __future__ import annotations

import numpy as np

from stepper.layers import Built, Kind, Source


def read_gated(src: Source, gates: str, bias_hh: int, states: tuple[str, ...]) -> Built:
    """A gated recurrent layer: `hidden`, and `weights` with a U, W and b per gate (named U_i, W_i, b_i
    for gate i) and the initial ``states``; what is not given is drawn as PyTorch draws it, adding the
    recurrent bias of the first ``bias_hh`` gates to their input bias."""
    from stepper.engine.lstm import init_gates

    reader, keys, kind = src.reader, src.keys, src.kind
    src.rank((2,), "a (T, I) sequence: time steps down the rows")
    if "hidden" not in keys:
        raise src.error(src.node, f"{kind.described} needs `hidden: N`, the size of h_t (for example hidden: 128)")
    hidden = reader.integer(keys["hidden"], "hidden", 1, 4096)
    t, inputs = src.shape
    trained = {f"{m}_{g}": s for m, s in (("U", (inputs, hidden)), ("W", (hidden, hidden)), ("b", (hidden,)))
               for g in gates}
    wk = reader.mapping(keys["weights"], f"{kind.name} weights", (*trained, *states)) if "weights" in keys else {}
    for name, shape in trained.items():
        src.budget.take(wk.get(name, keys["hidden"]), name, shape)
    why = f"the input has {inputs} features per step and hidden is {hidden}"
    given = {n: src.weight(wk, n, s, why) for n, s in {**trained, **{s: (hidden,) for s in states}}.items()}
    drawn = init_gates(src.rng, inputs, hidden, len(gates), bias_hh) if any(given[n] is None for n in trained) \
        else {}
    stacked = {m: np.stack([drawn[m][k] if given[f"{m}_{g}"] is None else given[f"{m}_{g}"]
                            for k, g in enumerate(gates)]) for m in "UWb"}
    layer = src.build(**stacked, **{s: given[s] for s in states}, seeded=bool(drawn))
    return Built(layer, (t, hidden), layer.step_count(src.shape), len(gates) * t * hidden * (inputs + hidden))


def read_lstm(src: Source) -> Built:
    return read_gated(src, "ifgo", 4, ("h0", "c0"))


def cell_states(trace) -> dict[str, np.ndarray]:
    return {"c": trace.c}


KINDS = (
    Kind("lstm", 11, ("hidden", "weights"), read_lstm, engine="stepper.engine.lstm:LSTM",
         view="stepper.tui.lstm_view:LSTMView", carries=cell_states, article="an"),
)
