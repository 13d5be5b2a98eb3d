"""Inverted dropout: drop each element iff u < p (u = default_rng(seed).random(shape)), scale survivors by 1/(1-p).

Tolerances: kept values are compared with x / (1 - p) at rtol=1e-15 (the engine multiplies by
1/(1-p), which may differ from dividing in the last bit); eval mode and p = 0 must be exact.
The statistical tests use fixed seeds, so they are deterministic; their bounds (Hoeffding) are
chosen so that a correct implementation would fail with probability below 1e-9 over the draw
of the seeds, while the usual mistakes (no scaling, scaling by p, dropping with 1-p) miss by far more.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import Dropout

FAST = settings(max_examples=50, deadline=None)


def dropout_reference(x, p, seed):
    """Plain loops over the coins the contract names."""
    x = np.asarray(x, dtype=float)
    u = np.random.default_rng(seed).random(x.shape)
    y = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        y[idx] = 0.0 if u[idx] < p else x[idx] / (1.0 - p)
    return y, u


# --- fixed examples -----------------------------------------------------------------------------


def test_dropout_lecture_example_with_explicit_mask():
    layer = Dropout(p=0.5, mask=np.array([0, 1, 0, 0, 0, 1]))
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_array_equal(layer.forward(x), [0.0, 4.0, 0.0, 0.0, 0.0, 12.0])
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.output, [0.0, 4.0, 0.0, 0.0, 0.0, 12.0])
    assert [s.phase for s in trace] == ["drop", "keep", "drop", "drop", "drop", "keep"]
    assert [s.values["keep"] for s in trace] == [False, True, False, False, False, True]
    assert all("u" not in s.values for s in trace)  # the mask replaces the coins


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, (3, 4)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_seeded_draw_drops_iff_u_below_p(seed, p):
    x = np.random.default_rng(99).normal(size=(5, 7))
    layer = Dropout(p=p, seed=seed)
    y, u = dropout_reference(x, p, seed)
    out = layer.forward(x)
    np.testing.assert_array_equal(out == 0, u < p)
    np.testing.assert_allclose(out, y, rtol=1e-15, atol=0)
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.u, u)
    np.testing.assert_array_equal(trace.keep, u >= p)


def test_dropout_same_seed_same_mask_other_seed_other_mask():
    x = np.ones(200)
    a, b, c = Dropout(seed=5).forward(x), Dropout(seed=5).forward(x), Dropout(seed=6).forward(x)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_survivors_are_scaled_by_one_over_keep_probability():
    x = np.full(50, 3.0)
    out = Dropout(p=0.75, seed=1).forward(x)
    survivors = out[out != 0]
    assert 0 < survivors.size < 50
    np.testing.assert_allclose(survivors, 12.0, rtol=1e-15)
    assert Dropout(p=0.75).scale == 4.0


def test_dropout_eval_mode_is_the_identity():
    x = np.random.default_rng(3).normal(size=(3, 4))
    for layer in (Dropout(p=0.9, mode="eval"), Dropout(p=0.5, mode="eval", mask=np.zeros((3, 4)))):
        np.testing.assert_array_equal(layer.forward(x), x)
        trace = layer.trace(x)
        np.testing.assert_array_equal(trace.output, x)
        assert {s.phase for s in trace} == {"eval"} and all(s.values["scale"] == 1.0 for s in trace)


def test_dropout_p_zero_keeps_everything_unscaled():
    x = np.random.default_rng(4).normal(size=(4, 6))
    out = Dropout(p=0.0, seed=11).forward(x)
    np.testing.assert_array_equal(out, x)


def test_dropout_toggled_switches_train_and_eval():
    layer = Dropout(p=0.5, seed=2)
    assert layer.toggled().mode == "eval" and layer.toggled().toggled().mode == "train"
    x = np.arange(1.0, 9.0)
    np.testing.assert_array_equal(layer.toggled().forward(x), x)
    np.testing.assert_array_equal(layer.toggled().toggled().forward(x), layer.forward(x))


def test_dropout_resampled_replaces_the_mask_with_fresh_coins():
    x = np.arange(1.0, 101.0)
    layer = Dropout(p=0.5, mask=np.ones(100))
    fresh = layer.resampled(8)
    assert fresh.mask is None and fresh.seed == 8
    np.testing.assert_array_equal(fresh.forward(x), Dropout(p=0.5, seed=8).forward(x))
    assert (fresh.forward(x) != layer.forward(x)).any()


def test_dropout_has_no_parameters():
    assert Dropout(p=0.3).param_count == 0


def test_dropout_layer_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Dropout().p = 0.1  # type: ignore[misc]


# --- statistics ---------------------------------------------------------------------------------


def hoeffding_halfwidth(value_range: float, n: int, delta: float) -> float:
    """t with P(|mean of n independent samples in a range of width value_range - E| >= t) <= delta."""
    return value_range * math.sqrt(math.log(2.0 / delta) / (2.0 * n))


def test_dropout_mean_over_many_seeds_approaches_the_input():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    p, n = 0.5, 4000
    mean = np.mean([Dropout(p=p, seed=s).forward(x) for s in range(n)], axis=0)
    # each sample of element i lies in [0, x_i / (1 - p)]; union bound over the 6 elements
    bound = np.array([hoeffding_halfwidth(xi / (1 - p), n, 1e-9 / len(x)) for xi in x])
    assert (bound < 0.15 * x).all()  # tight enough that no scaling (mean x/2) or double scaling fails
    assert (np.abs(mean - x) < bound).all(), (mean, bound)


def test_dropout_drops_a_fraction_p_of_elements():
    n, p = 200_000, 0.3
    dropped = (Dropout(p=p, seed=2024).forward(np.ones(n)) == 0).mean()
    bound = hoeffding_halfwidth(1.0, n, 1e-9)
    assert bound < 0.01
    assert abs(dropped - p) < bound


# --- property tests -----------------------------------------------------------------------------


@st.composite
def dropout_cases(draw):
    shape = tuple(draw(st.integers(0, 4)) for _ in range(draw(st.integers(0, 3))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=shape)
    p = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 0.99]))
    seed = draw(st.integers(0, 2**63 - 1))
    source = draw(st.sampled_from(["seed", "mask", "eval"]))
    mask = rng.integers(0, 2, size=shape) if source == "mask" else None
    layer = Dropout(p=p, seed=seed, mask=mask, mode="eval" if source == "eval" else "train")
    if source == "eval":
        expected = x.copy()
    elif source == "mask":
        expected = np.where(mask == 1, x / (1 - p), 0.0)
    else:
        expected = dropout_reference(x, p, seed)[0]
    return layer, x, expected


@FAST
@given(dropout_cases())
def test_dropout_every_step_matches_reference(case):
    layer, x, expected = case
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-15, atol=0)
    trace = layer.trace(x)
    assert len(trace) == layer.step_count(x.shape) == x.size
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    flat_expected = expected.reshape(-1)
    for k, step in enumerate(trace):
        at = np.unravel_index(k, x.shape)
        assert tuple(step.highlight["element"]) == tuple(int(i) for i in at)
        assert step.values["x"] == x[at]
        np.testing.assert_allclose(step.values[step.result], flat_expected[k], rtol=1e-15, atol=0)
        computed = (np.arange(x.size) <= k).reshape(x.shape)
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    if len(trace):
        *_, last = layer.steps(x)
        np.testing.assert_array_equal(last.output, layer.forward(x))
        assert trace.filled(last.done).all()
