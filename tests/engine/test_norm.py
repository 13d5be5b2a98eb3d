"""BatchNorm and LayerNorm against loop references written here.

    mean = sum(x)/m,  var = sum((x - mean)^2)/m (biased),  y = gamma (x - mean)/sqrt(var + eps) + beta

BatchNorm reduces across the batch (and H, W) per feature or channel; LayerNorm within each sample
over its last axis. Tolerances: rtol=1e-12, atol=1e-12 against the references (math.fsum there,
NumPy's pairwise sums in the engine).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import BatchNorm, LayerNorm

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)


def normalise_reference(values, eps, gamma, beta):
    """The four formulas over one group of plain floats."""
    m = len(values)
    mean = math.fsum(values) / m
    var = math.fsum((v - mean) ** 2 for v in values) / m
    x_hat = [(v - mean) / math.sqrt(var + eps) for v in values]
    return mean, var, x_hat, [gamma * h + beta for h in x_hat]


def batchnorm_reference(x, eps, gamma, beta):
    """Per feature f (axis 1): every x[n, f, ...] of the batch is one group."""
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x)
    means, variances = [], []
    for f in range(x.shape[1]):
        where = [idx for idx in itertools.product(*map(range, x.shape)) if idx[1] == f]
        mean, var, _, ys = normalise_reference([float(x[idx]) for idx in where], eps, float(gamma[f]),
                                               float(beta[f]))
        for idx, value in zip(where, ys):
            y[idx] = value
        means.append(mean)
        variances.append(var)
    return y, np.array(means), np.array(variances)


def layernorm_reference(x, eps, gamma, beta):
    """Per sample: each vector along the last axis is one group."""
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x)
    means, variances = [], []
    for lead in itertools.product(*map(range, x.shape[:-1])):
        row = [float(v) for v in x[lead]]
        mean, var, _, ys = normalise_reference(row, eps, 1.0, 0.0)
        y[lead] = [float(gamma[i]) * v + float(beta[i]) for i, v in enumerate(ys)]
        means.append(mean)
        variances.append(var)
    return y, np.array(means), np.array(variances)


# --- fixed examples -----------------------------------------------------------------------------


def test_batchnorm_hand_computed_two_samples():
    # feature 0: 1, 3 -> mean 2, var 1; feature 1: 10, 10 -> mean 10, var 0
    x = np.array([[1.0, 10.0], [3.0, 10.0]])
    layer = BatchNorm(gamma=np.array([2.0, 1.0]), beta=np.array([0.5, -1.0]), eps=1e-5)
    s = 1 / math.sqrt(1 + 1e-5)
    np.testing.assert_allclose(layer.forward(x), [[2 * -s + 0.5, -1.0], [2 * s + 0.5, -1.0]], rtol=RTOL, atol=ATOL)


def test_batchnorm_uses_biased_variance():
    x = np.array([[0.0], [2.0]])
    trace = BatchNorm(gamma=np.ones(1), beta=np.zeros(1), eps=0.0).trace(x)
    assert trace.var[0] == 1.0  # 2/2, not 2/1
    np.testing.assert_array_equal(trace.output, [[-1.0], [1.0]])


def test_batchnorm_eps_enters_under_the_square_root():
    x = np.array([[0.0], [2.0]])
    out = BatchNorm(gamma=np.ones(1), beta=np.zeros(1), eps=3.0).forward(x)
    np.testing.assert_allclose(out, [[-0.5], [0.5]], rtol=RTOL)  # 1/sqrt(1 + 3)


def test_batchnorm_2d_matches_reference():
    rng = np.random.default_rng(20)
    x = rng.normal(3.0, 2.0, size=(6, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer = BatchNorm(gamma=gamma, beta=beta, eps=1e-3)
    y, mean, var = batchnorm_reference(x, 1e-3, gamma, beta)
    np.testing.assert_allclose(layer.forward(x), y, rtol=RTOL, atol=ATOL)
    trace = layer.trace(x)
    np.testing.assert_allclose(trace.mean, mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(trace.var, var, rtol=RTOL, atol=ATOL)


def test_batchnorm_4d_takes_statistics_per_channel_over_batch_and_space():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(3, 2, 4, 5)) + np.array([10.0, -5.0])[None, :, None, None]
    gamma, beta = np.array([1.5, 0.5]), np.array([0.0, 2.0])
    layer = BatchNorm(gamma=gamma, beta=beta)
    y, mean, var = batchnorm_reference(x, 1e-5, gamma, beta)
    out = layer.forward(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, y, rtol=RTOL, atol=ATOL)
    trace = layer.trace(x)
    assert trace.mean.shape == (2,)
    np.testing.assert_allclose(trace.mean, mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(trace.var, var, rtol=RTOL, atol=ATOL)
    # each channel comes out with mean beta and standard deviation ~gamma
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), beta, atol=1e-12)


def test_layernorm_normalises_each_sample_on_its_own():
    x = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    layer = LayerNorm(gamma=np.ones(3), beta=np.zeros(3), eps=0.0)
    expected_row = np.array([-1.0, 0.0, 1.0]) * math.sqrt(1.5)  # var = 2/3
    np.testing.assert_allclose(layer.forward(x), [expected_row, expected_row], rtol=RTOL, atol=ATOL)


def test_layernorm_3d_reduces_over_the_last_axis_only():
    rng = np.random.default_rng(22)
    x = rng.normal(size=(2, 3, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    layer = LayerNorm(gamma=gamma, beta=beta, eps=1e-5)
    y, mean, var = layernorm_reference(x, 1e-5, gamma, beta)
    np.testing.assert_allclose(layer.forward(x), y, rtol=RTOL, atol=ATOL)
    trace = layer.trace(x)
    np.testing.assert_allclose(trace.mean, mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(trace.var, var, rtol=RTOL, atol=ATOL)
    assert len(trace) == layer.step_count(x.shape) == 4 * 6


def test_batchnorm_and_layernorm_differ_on_the_same_batch():
    x = np.array([[1.0, 5.0], [3.0, 2.0], [0.0, 4.0]])
    bn = BatchNorm(gamma=np.ones(2), beta=np.zeros(2)).forward(x)
    ln = LayerNorm(gamma=np.ones(2), beta=np.zeros(2)).forward(x)
    np.testing.assert_allclose(bn.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ln.mean(axis=1), 0.0, atol=1e-12)
    assert not np.allclose(bn, ln)


def test_norm_gamma_and_beta_default_to_one_and_zero():
    rng = np.random.default_rng(23)
    x = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(BatchNorm().forward(x),
                                  BatchNorm(gamma=np.ones(3), beta=np.zeros(3)).forward(x))
    np.testing.assert_array_equal(LayerNorm(eps=1e-3).forward(x),
                                  LayerNorm(gamma=np.ones(3), beta=np.zeros(3), eps=1e-3).forward(x))


def test_norm_param_count_is_gamma_plus_beta():
    assert BatchNorm(gamma=np.ones(7), beta=np.zeros(7)).param_count == 14
    assert LayerNorm(gamma=np.ones(5), beta=np.zeros(5)).param_count == 10
    assert [p.name for p in LayerNorm(gamma=np.ones(5), beta=np.zeros(5)).params()] == ["gamma", "beta"]


# --- the trace ----------------------------------------------------------------------------------


def test_norm_trace_runs_each_formula_over_every_group_in_turn():
    x = np.arange(12.0).reshape(4, 3)
    trace = BatchNorm(gamma=np.ones(3), beta=np.zeros(3)).trace(x)
    assert len(trace) == 12
    assert [s.phase for s in trace] == ["mean"] * 3 + ["var"] * 3 + ["normalise"] * 3 + ["scale"] * 3
    assert [s.result for s in trace] == ["mean"] * 3 + ["var"] * 3 + ["x_hat"] * 3 + ["y"] * 3
    assert [s.highlight["group"] for s in trace] == [0, 1, 2] * 4
    assert [s.unit for s in trace] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert trace.units == 4 and [trace.unit_start(u) for u in range(4)] == [0, 3, 6, 9]
    assert trace[4].values["eps"] == 1e-5


@st.composite
def norm_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["batch2d", "batch4d", "layer"]))
    if kind == "batch2d":
        shape = (draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    elif kind == "batch4d":
        shape = tuple(draw(st.integers(1, 3)) for _ in range(4))
    else:
        shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
    features = shape[-1] if kind == "layer" else shape[1]
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    gamma, beta = rng.normal(size=features), rng.normal(size=features)
    x = rng.normal(draw(st.floats(-5, 5)), draw(st.floats(0.1, 3)), size=shape)
    cls, reference = (LayerNorm, layernorm_reference) if kind == "layer" else (BatchNorm, batchnorm_reference)
    layer = cls(gamma=gamma, beta=beta, eps=eps)
    return layer, x, reference(x, eps, gamma, beta), kind


def group_members(kind, shape, g):
    """The input indices that make up group g."""
    indices = list(itertools.product(*map(range, shape)))
    if kind == "layer":
        return [idx for idx in indices if np.ravel_multi_index(idx[:-1], shape[:-1]) == g] if len(shape) > 1 \
            else indices
    return [idx for idx in indices if idx[1] == g]


@FAST
@given(norm_cases())
def test_norm_forward_matches_reference(case):
    layer, x, (y, mean, var), _ = case
    np.testing.assert_allclose(layer.forward(x), y, rtol=RTOL, atol=ATOL)


@FAST
@given(norm_cases())
def test_norm_every_step_matches_reference(case):
    layer, x, (y, mean, var), kind = case
    trace = layer.trace(x)
    groups = len(mean)
    assert len(trace) == layer.step_count(x.shape) == 4 * groups
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    for step in trace:
        phase, g = divmod(step.index, groups)
        members = group_members(kind, x.shape, g)
        np.testing.assert_array_equal(step.values["x"], [x[idx] for idx in members])
        expected = {
            "mean": mean[g],
            "var": var[g],
            "x_hat": [(x[idx] - mean[g]) / math.sqrt(var[g] + layer.eps) for idx in members],
            "y": [y[idx] for idx in members],
        }[step.result]
        np.testing.assert_allclose(step.values[step.result], expected, rtol=RTOL, atol=ATOL)
        # filled: whole groups, and only once their scale-and-shift step has run
        computed = np.zeros(x.shape, dtype=bool)
        for done_group in range(g + 1 if phase == 3 else 0):
            for idx in group_members(kind, x.shape, done_group):
                computed[idx] = True
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.output, layer.forward(x))
    assert trace.filled(last.done).all()


def test_norm_layer_is_frozen():
    layer = LayerNorm(gamma=np.ones(2), beta=np.zeros(2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.eps = 1.0  # type: ignore[misc]
