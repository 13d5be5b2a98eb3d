"""RNN: h_t = act(x_t U + h_{t-1} W + b), checked against a plain-Python loop written here.

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

from stepper.engine import RNN

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)


def rnn_reference(x, U, W, b, h0, activation):
    """Per time step: x_t U, h_{t-1} W, the pre-activation a_t and h_t, all by explicit loops."""
    x, U, W, b, h0 = (np.asarray(v, dtype=float).tolist() for v in (x, U, W, b, h0))
    inputs, hidden = len(U), len(b)
    act = math.tanh if activation == "tanh" else (lambda v: v if v > 0.0 else 0.0)
    h = list(h0)
    out = {"xU": [], "hW": [], "a_t": [], "h_t": []}
    for x_t in x:
        xu = [sum(x_t[i] * U[i][j] for i in range(inputs)) for j in range(hidden)]
        hw = [sum(h[i] * W[i][j] for i in range(hidden)) for j in range(hidden)]
        a = [xu[j] + hw[j] + b[j] for j in range(hidden)]
        h = [act(v) for v in a]
        for key, value in (("xU", xu), ("hW", hw), ("a_t", a), ("h_t", h)):
            out[key].append(value)
    return {key: np.array(value).reshape(len(x), hidden) for key, value in out.items()}


def random_rnn(seed, t, inputs, hidden, activation, with_h0=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, inputs))
    U, W, b = rng.normal(size=(inputs, hidden)), rng.normal(size=(hidden, hidden)) * 0.5, rng.normal(size=hidden)
    h0 = rng.normal(size=hidden) if with_h0 else None
    return RNN(U, W, b, h0, activation), x


# --- the formula, on fixed examples -------------------------------------------------------------


def test_rnn_forward_matches_loop_reference_tanh_with_nonzero_h0():
    layer, x = random_rnn(1, t=5, inputs=4, hidden=3, activation="tanh")
    assert np.any(layer.h0 != 0)
    ref = rnn_reference(x, layer.U, layer.W, layer.b, layer.h0, "tanh")
    out = layer.forward(x)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out, ref["h_t"], rtol=RTOL, atol=ATOL)


def test_rnn_forward_matches_loop_reference_relu_with_nonzero_h0():
    layer, x = random_rnn(2, t=6, inputs=3, hidden=4, activation="relu")
    ref = rnn_reference(x, layer.U, layer.W, layer.b, layer.h0, "relu")
    # the example exercises both sides of relu, so a tanh or identity slip would show
    assert (ref["a_t"] < 0).any() and (ref["a_t"] > 1).any()
    np.testing.assert_allclose(layer.forward(x), ref["h_t"], rtol=RTOL, atol=ATOL)


def test_rnn_hand_computed_two_steps():
    # I = 1, hidden = 1: h1 = tanh(2*0.5 + 0.3*(-1) + 0.1), h2 = tanh(-1*0.5 + h1*(-1) + 0.1)
    layer = RNN(np.array([[0.5]]), np.array([[-1.0]]), np.array([0.1]), np.array([0.3]))
    h1 = math.tanh(2 * 0.5 + 0.3 * -1.0 + 0.1)
    h2 = math.tanh(-1 * 0.5 + h1 * -1.0 + 0.1)
    np.testing.assert_allclose(layer.forward(np.array([[2.0], [-1.0]])), [[h1], [h2]], rtol=RTOL, atol=ATOL)


def test_rnn_h0_defaults_to_zeros():
    layer, x = random_rnn(3, t=4, inputs=2, hidden=3, activation="tanh", with_h0=False)
    assert layer.h0.shape == (3,) and not layer.h0.any()
    ref = rnn_reference(x, layer.U, layer.W, layer.b, np.zeros(3), "tanh")
    np.testing.assert_allclose(layer.forward(x), ref["h_t"], rtol=RTOL, atol=ATOL)


def test_rnn_h0_changes_the_first_state():
    layer, x = random_rnn(4, t=3, inputs=2, hidden=3, activation="tanh")
    zero = dataclasses.replace(layer, h0=np.zeros(3))
    assert not np.allclose(layer.forward(x)[0], zero.forward(x)[0])


def test_rnn_state_carries_over_time_steps():
    # the same x_t at two time steps gives different h_t because h_{t-1} differs
    layer, _ = random_rnn(5, t=1, inputs=2, hidden=3, activation="tanh")
    out = layer.forward(np.array([[1.0, -1.0], [1.0, -1.0]]))
    assert not np.allclose(out[0], out[1])


# --- parameters ---------------------------------------------------------------------------------


def test_rnn_lecture_layer_has_49280_parameters():
    layer = RNN(np.zeros((256, 128)), np.zeros((128, 128)), np.zeros(128))
    sizes = {p.name: (p.shape, p.size) for p in layer.params()}
    assert sizes == {"U": ((256, 128), 32_768), "W": ((128, 128), 16_384), "b": ((128,), 128)}
    assert layer.param_count == 49_280
    assert layer.output_shape((5, 256)) == (5, 128)


def test_rnn_h0_is_not_a_trainable_parameter():
    layer, _ = random_rnn(6, t=1, inputs=3, hidden=2, activation="tanh")
    assert [p.name for p in layer.params()] == ["U", "W", "b"]
    assert layer.param_count == 3 * 2 + 2 * 2 + 2


# --- the trace ----------------------------------------------------------------------------------

PHASES = ["xU", "hW", "bias", "act"]
RESULT_KEYS = ["xU", "hW", "a_t", "h_t"]


def test_rnn_trace_has_four_phases_per_time_step():
    layer, x = random_rnn(7, t=3, inputs=2, hidden=2, activation="relu")
    trace = layer.trace(x)
    assert len(trace) == 12 == layer.step_count(x.shape)
    assert [s.phase for s in trace] == PHASES * 3
    assert [s.result for s in trace] == RESULT_KEYS * 3
    assert [s.unit for s in trace] == [t for t in range(3) for _ in range(4)]
    assert [s.highlight["t"] for s in trace] == [t for t in range(3) for _ in range(4)]
    assert trace[3].formula == "h_t = relu(a_t)"
    assert trace.units == 3 and [trace.unit_start(u) for u in range(3)] == [0, 4, 8]


def test_rnn_step_operands_are_the_previous_state_and_the_input_row():
    layer, x = random_rnn(8, t=3, inputs=2, hidden=3, activation="tanh")
    trace = layer.trace(x)
    ref = rnn_reference(x, layer.U, layer.W, layer.b, layer.h0, "tanh")
    for step in trace:
        t = step.index // 4
        np.testing.assert_array_equal(step.values["x_t"], x[t])
        expected_prev = layer.h0 if t == 0 else ref["h_t"][t - 1]
        np.testing.assert_allclose(step.values["h_prev"], expected_prev, rtol=RTOL, atol=ATOL)
    bias_step = trace[2]
    np.testing.assert_array_equal(bias_step.values["b"], layer.b)


@st.composite
def rnn_cases(draw):
    t = draw(st.integers(1, 6))
    inputs = draw(st.integers(1, 5))
    hidden = draw(st.integers(1, 5))
    activation = draw(st.sampled_from(["tanh", "relu"]))
    seed = draw(st.integers(0, 2**32 - 1))
    with_h0 = draw(st.booleans())
    return random_rnn(seed, t, inputs, hidden, activation, with_h0) + (activation,)


@FAST
@given(rnn_cases())
def test_rnn_every_step_result_matches_reference(case):
    layer, x, activation = case
    ref = rnn_reference(x, layer.U, layer.W, layer.b, layer.h0, activation)
    trace = layer.trace(x)
    assert len(trace) == layer.step_count(x.shape) == 4 * len(x)
    for step in trace:
        t, p = divmod(step.index, 4)
        assert step.result == RESULT_KEYS[p]
        np.testing.assert_allclose(step.values[step.result], ref[RESULT_KEYS[p]][t], rtol=RTOL, atol=ATOL)


@FAST
@given(rnn_cases())
def test_rnn_trace_output_and_last_step_equal_forward(case):
    layer, x, _ = case
    forward = layer.forward(x)
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.output, forward)
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.output, forward)
    np.testing.assert_array_equal(last.values[last.result], forward[-1])
    assert last.done == forward.size
    assert trace.filled(last.done).all()


@FAST
@given(rnn_cases())
def test_rnn_filled_marks_states_computed_so_far(case):
    layer, x, _ = case
    trace = layer.trace(x)
    for step in trace:
        t, p = divmod(step.index, 4)
        rows_done = t + 1 if p == 3 else t  # h_t exists only after its activation phase
        expected = np.zeros(trace.output.shape, dtype=bool)
        expected[:rows_done] = True
        np.testing.assert_array_equal(trace.filled(step.done), expected)


def test_rnn_layer_and_weights_are_immutable():
    layer, x = random_rnn(9, t=2, inputs=2, hidden=2, activation="tanh")
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.U = np.zeros((2, 2))  # type: ignore[misc]
    for name in ("U", "W", "b", "h0"):
        with pytest.raises(ValueError):
            getattr(layer, name)[0] = 1.0
