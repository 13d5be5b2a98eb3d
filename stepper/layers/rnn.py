"""`type: rnn`: h_t = act(x_t U + h_{t-1} W + b) over a (T, I) sequence."""

from __future__ import annotations

from stepper.layers import Built, Kind, Source


def read_rnn(src: Source) -> Built:
    from stepper.engine.rnn import ACTIVATIONS, init_weights

    reader, keys = src.reader, src.keys
    src.rank((2,), "a (T, I) sequence: time steps down the rows")
    if "hidden" not in keys:
        raise src.error(src.node, "an rnn layer needs `hidden: N`, the size of h_t (for example hidden: 128)")
    hidden = reader.integer(keys["hidden"], "hidden", 1, 4096)
    act = reader.string(keys["activation"], "activation", ACTIVATIONS) if "activation" in keys else "tanh"
    t, inputs = src.shape
    wk = reader.mapping(keys["weights"], "rnn weights", ("U", "W", "b", "h0")) if "weights" in keys else {}
    for name, s in (("U", (inputs, hidden)), ("W", (hidden, hidden)), ("b", (hidden,))):
        src.budget.take(wk.get(name, keys["hidden"]), name, s)
    why = f"the input has {inputs} features per step and hidden is {hidden}"
    given = {n: src.weight(wk, n, s, why) for n, s in
             (("U", (inputs, hidden)), ("W", (hidden, hidden)), ("b", (hidden,)), ("h0", (hidden,)))}
    drawn = init_weights(src.rng, inputs, hidden) if any(given[n] is None for n in "UWb") else {}
    w = {n: given[n] if given[n] is not None else drawn.get(n) for n in given}
    layer = src.build(U=w["U"], W=w["W"], b=w["b"], h0=w["h0"], activation=act, seeded=bool(drawn))
    return Built(layer, (t, hidden), 4 * t, t * hidden * (inputs + hidden))


KINDS = (
    Kind("rnn", 10, ("hidden", "activation", "weights"), read_rnn, engine="stepper.engine.rnn:RNN",
         view="stepper.tui.rnn_view:RNNView", article="an"),
)
