"""GRU: a reset and an update gate blending h_{t-1} with a candidate, checked against a plain-Python loop.

    r, z = σ(x_t U + h_{t-1} W + b) per gate, n_t = tanh(x_t U_n + r_t (h_{t-1} W_n) + b_n),
    h_t = (1 - z_t) n_t + z_t h_{t-1}

Tolerances: every comparison with the loop reference uses rtol=1e-12, atol=1e-12 (summation order).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import GRU
from stepper.engine.lstm import init_gates

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)
PHASES = ["reset gate", "update gate", "reset", "candidate", "blend"]
RESULTS = ["r_t", "z_t", "reset", "n_t", "h_t"]


def logistic(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def gru_reference(x, U, W, b, h0):
    """Per time step, by explicit loops: both gates, the reset, the candidate and the blend."""
    x, U, W, b, h0 = (np.asarray(v, dtype=float).tolist() for v in (x, U, W, b, h0))
    inputs, hidden = len(U[0]), len(b[0])
    h = list(h0)
    out = {key: [] for key in RESULTS}

    def xu(g, x_t, j):
        return sum(x_t[i] * U[g][i][j] for i in range(inputs))

    def hw(g, j):
        return sum(h[i] * W[g][i][j] for i in range(hidden))

    for x_t in x:
        r = [logistic(xu(0, x_t, j) + hw(0, j) + b[0][j]) for j in range(hidden)]
        z = [logistic(xu(1, x_t, j) + hw(1, j) + b[1][j]) for j in range(hidden)]
        reset = [r[j] * hw(2, j) for j in range(hidden)]
        n = [math.tanh(xu(2, x_t, j) + reset[j] + b[2][j]) for j in range(hidden)]
        h = [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(hidden)]
        for key, value in zip(RESULTS, (r, z, reset, n, h)):
            out[key].append(value)
    return {key: np.array(value).reshape(len(x), hidden) for key, value in out.items()}


def random_gru(seed, t, inputs, hidden, with_h0=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, inputs))
    U, W = rng.normal(size=(3, inputs, hidden)), rng.normal(size=(3, hidden, hidden)) * 0.5
    b = rng.normal(size=(3, hidden))
    return GRU(U, W, b, rng.normal(size=hidden) if with_h0 else None), x


def reference_of(layer, x):
    return gru_reference(x, layer.U, layer.W, layer.b, layer.h0)


def test_gru_forward_matches_loop_reference_with_nonzero_h0():
    layer, x = random_gru(1, t=5, inputs=4, hidden=3)
    assert layer.h0.any()
    np.testing.assert_allclose(layer.forward(x), reference_of(layer, x)["h_t"], rtol=RTOL, atol=ATOL)


def test_gru_hand_computed_one_unit_two_steps():
    # I = H = 1: U = [1, -1, 2], W = [0.5, 1, -1], b = [0, 0.5, 0.25]
    layer = GRU(np.array([1, -1, 2.0]).reshape(3, 1, 1), np.array([0.5, 1, -1.0]).reshape(3, 1, 1),
                np.array([0, 0.5, 0.25]).reshape(3, 1), np.array([0.4]))
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h = 0.4
    expected = []
    for x in (1.0, -0.5):
        r, z = s(x + 0.5 * h), s(-x + h + 0.5)
        n = math.tanh(2 * x + r * (-h) + 0.25)
        h = (1 - z) * n + z * h
        expected.append([h])
    np.testing.assert_allclose(layer.forward(np.array([[1.0], [-0.5]])), expected, rtol=RTOL, atol=ATOL)


def test_gru_update_gate_near_one_keeps_the_state():
    layer, x = random_gru(2, t=3, inputs=2, hidden=2)
    b = layer.b.copy()
    b[1] = 800.0  # σ(800) is 1 to the last bit: h_t = h_{t-1}
    kept = dataclasses.replace(layer, b=b)
    np.testing.assert_array_equal(kept.forward(x), np.tile(layer.h0, (3, 1)))


def test_gru_lecture_layer_has_three_times_the_rnns_parameters():
    layer = GRU(np.zeros((3, 256, 128)), np.zeros((3, 128, 128)), np.zeros((3, 128)))
    assert {p.name: p.shape for p in layer.params()} == {"U": (3, 256, 128), "W": (3, 128, 128), "b": (3, 128)}
    assert layer.param_count == 147_840 == 3 * 49_280


def test_gru_seeded_biases_add_the_recurrent_bias_except_for_the_candidate():
    weights = init_gates(np.random.default_rng(5), 6, 4, 3, 2)
    bound = 1 / math.sqrt(4)
    rng = np.random.default_rng(5)
    rng.uniform(-bound, bound, (3, 6, 4)), rng.uniform(-bound, bound, (3, 4, 4))
    b_ih, b_hh = rng.uniform(-bound, bound, (3, 4)), rng.uniform(-bound, bound, (2, 4))
    np.testing.assert_array_equal(weights["b"][:2], b_ih[:2] + b_hh)
    np.testing.assert_array_equal(weights["b"][2], b_ih[2])  # b_n is b_in alone: PyTorch's b_hn is zero here


def test_gru_trace_has_five_phases_per_time_step():
    layer, x = random_gru(7, t=3, inputs=2, hidden=2)
    trace = layer.trace(x)
    assert len(trace) == 15 == layer.step_count(x.shape)
    assert [s.phase for s in trace] == PHASES * 3
    assert [s.result for s in trace] == RESULTS * 3
    assert trace.units == 3 and [trace.unit_start(u) for u in range(3)] == [0, 5, 10]
    candidate = trace[5 + 3]
    np.testing.assert_allclose(candidate.values["xU_n"] + candidate.values["reset"] + candidate.values["b_n"],
                               candidate.values["a_n"], rtol=RTOL, atol=ATOL)
    assert "n_t" not in trace[5 + 2].values and "z_t" in trace[5 + 2].values


@st.composite
def gru_cases(draw):
    return random_gru(draw(st.integers(0, 2**32 - 1)), draw(st.integers(1, 5)), draw(st.integers(1, 4)),
                      draw(st.integers(1, 4)), draw(st.booleans()))


@FAST
@given(gru_cases())
def test_gru_every_step_result_matches_reference(case):
    layer, x = case
    ref = reference_of(layer, x)
    for step in layer.trace(x):
        t, p = divmod(step.index, 5)
        np.testing.assert_allclose(step.values[step.result], ref[RESULTS[p]][t], rtol=RTOL, atol=ATOL)


@FAST
@given(gru_cases())
def test_gru_stepped_trace_ends_where_the_vectorised_forward_does(case):
    layer, x = case
    forward = layer.forward(x)
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.output, forward)
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.values["h_t"], forward[-1])
    assert last.done == forward.size and trace.filled(last.done).all()
    np.testing.assert_allclose(last.values["new"] + last.values["old"], forward[-1], rtol=RTOL, atol=ATOL)


def test_gru_layer_is_immutable():
    layer, _ = random_gru(9, t=2, inputs=2, hidden=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.W = np.zeros((3, 2, 2))  # type: ignore[misc]
    with pytest.raises(ValueError):
        layer.h0[0] = 1.0
