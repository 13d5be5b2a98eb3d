"""LSTM: four gates and a cell state, checked against a plain-Python loop written here.

    i, f, o = σ(x_t U + h_{t-1} W + b) per gate, g = tanh(...), c_t = f c_{t-1} + i g, h_t = o tanh(c_t)

Tolerances: every comparison with the loop reference uses rtol=1e-12, atol=1e-12 (the engine uses
vectorised matrix products, the reference sums term by term, so the last bits may differ).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import LSTM
from stepper.engine.lstm import init_gates, sigmoid

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)
GATES = "ifgo"
PHASES = ["input gate", "forget gate", "candidate", "output gate", "forget", "admit", "cell", "hidden"]
RESULTS = ["i_t", "f_t", "g_t", "o_t", "kept", "written", "c_t", "h_t"]


def logistic(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def lstm_reference(x, U, W, b, h0, c0):
    """Per time step, by explicit loops over units and inputs: every gate, the cell and the state."""
    x, U, W, b, h0, c0 = (np.asarray(v, dtype=float).tolist() for v in (x, U, W, b, h0, c0))
    inputs, hidden = len(U[0]), len(b[0])
    h, c = list(h0), list(c0)
    out = {key: [] for key in RESULTS}
    for x_t in x:
        gate = {}
        for g, name in enumerate(GATES):
            a = [sum(x_t[i] * U[g][i][j] for i in range(inputs)) + sum(h[i] * W[g][i][j] for i in range(hidden))
                 + b[g][j] for j in range(hidden)]
            gate[name] = [math.tanh(v) if name == "g" else logistic(v) for v in a]
        kept = [gate["f"][j] * c[j] for j in range(hidden)]
        written = [gate["i"][j] * gate["g"][j] for j in range(hidden)]
        c = [kept[j] + written[j] for j in range(hidden)]
        h = [gate["o"][j] * math.tanh(c[j]) for j in range(hidden)]
        for key, value in zip(RESULTS, [gate[n] for n in GATES] + [kept, written, c, h]):
            out[key].append(value)
    return {key: np.array(value).reshape(len(x), hidden) for key, value in out.items()}


def random_lstm(seed, t, inputs, hidden, with_states=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, inputs))
    U, W = rng.normal(size=(4, inputs, hidden)), rng.normal(size=(4, hidden, hidden)) * 0.5
    b = rng.normal(size=(4, hidden))
    h0, c0 = (rng.normal(size=hidden), rng.normal(size=hidden)) if with_states else (None, None)
    return LSTM(U, W, b, h0, c0=c0), x


def reference_of(layer, x):
    return lstm_reference(x, layer.U, layer.W, layer.b, layer.h0, layer.c0)


# --- the formulas, on fixed examples --------------------------------------------------------------


def test_lstm_forward_matches_loop_reference_with_nonzero_states():
    layer, x = random_lstm(1, t=5, inputs=4, hidden=3)
    assert layer.h0.any() and layer.c0.any()
    out = layer.forward(x)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out, reference_of(layer, x)["h_t"], rtol=RTOL, atol=ATOL)


def test_lstm_hand_computed_one_unit_two_steps():
    # I = H = 1; the four gates' weights are written out: U = [1, 2, 0.5, -1], W = [0.5, 0, 1, 2], b = [0, 1, 0, 0.5]
    layer = LSTM(np.array([1, 2, 0.5, -1.0]).reshape(4, 1, 1), np.array([0.5, 0, 1, 2.0]).reshape(4, 1, 1),
                 np.array([0, 1, 0, 0.5]).reshape(4, 1))
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    i1, f1, g1, o1 = s(1.0), s(2 + 1), math.tanh(0.5), s(-1 + 0.5)  # x_1 = 1, h_0 = c_0 = 0
    c1 = f1 * 0 + i1 * g1
    h1 = o1 * math.tanh(c1)
    i2, f2, g2, o2 = s(-2 + 0.5 * h1), s(-4 + 1), math.tanh(-1 + h1), s(2 + 2 * h1 + 0.5)  # x_2 = -2
    c2 = f2 * c1 + i2 * g2
    h2 = o2 * math.tanh(c2)
    np.testing.assert_allclose(layer.forward(np.array([[1.0], [-2.0]])), [[h1], [h2]], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.trace(np.array([[1.0], [-2.0]])).c, [[c1], [c2]], rtol=RTOL, atol=ATOL)


def test_lstm_states_default_to_zeros():
    layer, x = random_lstm(3, t=4, inputs=2, hidden=3, with_states=False)
    assert layer.h0.shape == layer.c0.shape == (3,) and not layer.h0.any() and not layer.c0.any()
    ref = lstm_reference(x, layer.U, layer.W, layer.b, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(layer.forward(x), ref["h_t"], rtol=RTOL, atol=ATOL)


def test_lstm_c0_changes_the_first_state_and_is_forgotten_by_a_shut_forget_gate():
    layer, x = random_lstm(4, t=3, inputs=2, hidden=3)
    other = dataclasses.replace(layer, c0=layer.c0 + 1.0)
    assert not np.allclose(layer.forward(x)[0], other.forward(x)[0])
    b = layer.b.copy()
    b[1] = -800.0  # σ(-800) underflows to 0: the forget gate is shut, c_{t-1} is dropped entirely
    shut = dataclasses.replace(layer, b=b)
    np.testing.assert_array_equal(shut.forward(x), dataclasses.replace(shut, c0=layer.c0 + 1.0).forward(x))


def test_lstm_sigmoid_is_stable_and_exact_at_the_extremes():
    a = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(a)
    np.testing.assert_allclose(s, [logistic(v) for v in a], rtol=1e-15, atol=0)
    assert s[2] == 0.5 and s[-1] == 1.0 and s[0] == 0.0


# --- parameters and seeded weights -----------------------------------------------------------------


def test_lstm_lecture_layer_has_four_times_the_rnns_parameters():
    layer = LSTM(np.zeros((4, 256, 128)), np.zeros((4, 128, 128)), np.zeros((4, 128)))
    sizes = {p.name: (p.shape, p.size) for p in layer.params()}
    assert sizes == {"U": ((4, 256, 128), 131_072), "W": ((4, 128, 128), 65_536), "b": ((4, 128), 512)}
    assert layer.param_count == 197_120 == 4 * (256 * 128 + 128 * 128 + 128) == 4 * 49_280
    assert layer.output_shape((5, 256)) == (5, 128)


def test_lstm_seeded_weights_are_uniform_with_two_biases_added():
    weights = init_gates(np.random.default_rng(0), 30, 20, 4, 4)
    bound = 1 / math.sqrt(20)
    assert weights["U"].shape == (4, 30, 20) and weights["W"].shape == (4, 20, 20) and weights["b"].shape == (4, 20)
    assert np.abs(weights["U"]).max() < bound and np.abs(weights["W"]).max() < bound
    assert np.abs(weights["b"]).max() < 2 * bound and np.abs(weights["b"]).max() > bound  # b_ih + b_hh
    rng = np.random.default_rng(0)  # the documented order: U, W, then b_ih and b_hh
    U, W = rng.uniform(-bound, bound, (4, 30, 20)), rng.uniform(-bound, bound, (4, 20, 20))
    b = rng.uniform(-bound, bound, (4, 20)) + rng.uniform(-bound, bound, (4, 20))
    for name, value in (("U", U), ("W", W), ("b", b)):
        np.testing.assert_array_equal(weights[name], value)


# --- the trace ---------------------------------------------------------------------------------------


def test_lstm_trace_has_eight_phases_per_time_step():
    layer, x = random_lstm(7, t=3, inputs=2, hidden=2)
    trace = layer.trace(x)
    assert len(trace) == 24 == layer.step_count(x.shape)
    assert [s.phase for s in trace] == PHASES * 3
    assert [s.result for s in trace] == RESULTS * 3
    assert [s.unit for s in trace] == [t for t in range(3) for _ in range(8)]
    assert trace.units == 3 and [trace.unit_start(u) for u in range(3)] == [0, 8, 16]
    assert trace[6].formula == "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t"


def test_lstm_gate_steps_show_their_parts_and_later_steps_keep_every_gate():
    layer, x = random_lstm(8, t=2, inputs=3, hidden=2)
    trace = layer.trace(x)
    step = trace[8 + 1]  # t = 2, the forget gate
    np.testing.assert_allclose(step.values["a_f"], x[1] @ layer.U[1] + trace.output[0] @ layer.W[1] + layer.b[1],
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(step.values["xU_f"] + step.values["hW_f"] + step.values["b_f"], step.values["a_f"],
                               rtol=RTOL, atol=ATOL)
    assert {"i_t", "f_t"} <= set(step.values) and "g_t" not in step.values and "a_i" not in step.values
    last = trace[15]
    assert {"i_t", "f_t", "g_t", "o_t", "kept", "written", "c_t", "tanh_c", "h_t"} <= set(last.values)
    np.testing.assert_array_equal(last.values["c_prev"], trace.c[0])
    np.testing.assert_array_equal(trace[0].values["c_prev"], layer.c0)


@st.composite
def lstm_cases(draw):
    return random_lstm(draw(st.integers(0, 2**32 - 1)), draw(st.integers(1, 5)), draw(st.integers(1, 4)),
                       draw(st.integers(1, 4)), draw(st.booleans()))


@FAST
@given(lstm_cases())
def test_lstm_every_step_result_matches_reference(case):
    layer, x = case
    ref = reference_of(layer, x)
    for step in layer.trace(x):
        t, p = divmod(step.index, 8)
        assert step.result == RESULTS[p]
        np.testing.assert_allclose(step.values[step.result], ref[RESULTS[p]][t], rtol=RTOL, atol=ATOL)


@FAST
@given(lstm_cases())
def test_lstm_stepped_trace_ends_where_the_vectorised_forward_does(case):
    layer, x = case
    forward = layer.forward(x)
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.output, forward)
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.values["h_t"], forward[-1])
    assert last.done == forward.size and trace.filled(last.done).all()
    for step in trace:  # h_t exists only after its last phase
        t, p = divmod(step.index, 8)
        assert step.done == (t + (p == 7)) * layer.hidden
    gates = np.array([[step.values[f"{g}_t"] for g in GATES] for step in trace if step.phase == "hidden"])
    assert ((gates[:, [0, 1, 3]] >= 0) & (gates[:, [0, 1, 3]] <= 1)).all() and (np.abs(gates[:, 2]) <= 1).all()


def test_lstm_layer_and_weights_are_immutable():
    layer, _ = random_lstm(9, t=2, inputs=2, hidden=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.U = np.zeros((4, 2, 2))  # type: ignore[misc]
    for name in ("U", "W", "b", "h0", "c0"):
        with pytest.raises(ValueError):
            getattr(layer, name)[0] = 1.0
