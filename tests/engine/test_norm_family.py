"""GroupNorm, InstanceNorm, RMSNorm and BatchNorm's train and eval modes against loop references
written here, element by element with math.fsum:

    GroupNorm / InstanceNorm:  per sample, per group of C/groups channels (one channel), over those
                               channels and every position: mean, biased var, (x - mean)/sqrt(var + eps)
    RMSNorm:                   per sample over the last axis: y = gamma x / sqrt(mean(x^2) + eps)
    BatchNorm train:           batch statistics; running = (1 - momentum) running + momentum stat,
                               the variance unbiased (m - 1)
    BatchNorm eval:            y = gamma (x - running_mean) / sqrt(running_var + eps) + beta

Tolerances: rtol=1e-12, atol=1e-12 (math.fsum in the references, NumPy's pairwise sums in the engine).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RMSNorm

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def indices(shape):
    return list(itertools.product(*map(range, shape)))


def moments(values):
    m = len(values)
    mean = math.fsum(values) / m
    return mean, math.fsum((v - mean) ** 2 for v in values) / m


# --- the loop references ------------------------------------------------------------------------


def channel_groups(shape, per_group):
    """The input indices of each statistic, in order: sample n, then group j of ``per_group`` channels."""
    groups = shape[1] // per_group
    return [[idx for idx in indices(shape) if idx[0] == n and idx[1] // per_group == j]
            for n in range(shape[0]) for j in range(groups)]


def grouped_reference(x, per_group, eps, gamma, beta):
    """GroupNorm with ``per_group`` channels a group (InstanceNorm: 1); gamma and beta per channel."""
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x)
    means, variances = [], []
    for members in channel_groups(x.shape, per_group):
        mean, var = moments([float(x[idx]) for idx in members])
        for idx in members:
            y[idx] = gamma[idx[1]] * (x[idx] - mean) / math.sqrt(var + eps) + beta[idx[1]]
        means.append(mean)
        variances.append(var)
    groups = x.shape[1] // per_group
    return y, np.array(means).reshape(x.shape[0], groups), np.array(variances).reshape(x.shape[0], groups)


def rmsnorm_reference(x, eps, gamma):
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x)
    rms = []
    for lead in itertools.product(*map(range, x.shape[:-1])):
        row = [float(v) for v in x[lead]]
        r = math.sqrt(math.fsum(v * v for v in row) / len(row) + eps)
        y[lead] = [gamma[i] * v / r for i, v in enumerate(row)]
        rms.append(r)
    return y, np.array(rms)


def batchnorm_reference(x, eps, gamma, beta, mode, momentum, running_mean, running_var):
    """(y, mean, var used, running_mean after, running_var after), per feature f (axis 1)."""
    x = np.asarray(x, dtype=float)
    y = np.zeros_like(x)
    used_mean, used_var, new_mean, new_var = [], [], [], []
    for f in range(x.shape[1]):
        members = [idx for idx in indices(x.shape) if idx[1] == f]
        values = [float(x[idx]) for idx in members]
        mean, var = moments(values)
        if mode == "eval":
            mean, var = running_mean[f], running_var[f]
            new_mean.append(running_mean[f])
            new_var.append(running_var[f])
        else:
            unbiased = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
            new_mean.append((1 - momentum) * running_mean[f] + momentum * mean)
            new_var.append((1 - momentum) * running_var[f] + momentum * unbiased)
        for idx in members:
            y[idx] = gamma[f] * (x[idx] - mean) / math.sqrt(var + eps) + beta[f]
        used_mean.append(mean)
        used_var.append(var)
    return y, *(np.array(v) for v in (used_mean, used_var, new_mean, new_var))


# --- fixed examples -----------------------------------------------------------------------------


def test_groupnorm_hand_computed_one_sample_two_groups():
    # sample 1: channels (1, 3) -> mean 2, var 1; channels (10, 10) -> mean 10, var 0
    x = np.array([[[1.0], [3.0], [10.0], [10.0]]])  # (N, C, L) = (1, 4, 1)
    layer = GroupNorm(groups=2, gamma=np.array([1.0, 2.0, 1.0, 1.0]), beta=np.array([0.0, 0.0, 0.5, 0.5]), eps=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        trace = layer.trace(x)
    close(trace.mean, [2.0, 10.0])
    close(trace.var, [1.0, 0.0])
    assert trace.stat_shape == (1, 2)
    close(trace.output[0, :2, 0], [-1.0, 2.0])


def test_groupnorm_with_one_group_is_layernorm_over_channels_and_positions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 2, 5))
    ours = GroupNorm(groups=1).forward(x)
    whole = LayerNorm().forward(x.reshape(3, -1)).reshape(x.shape)
    close(ours, whole)


def test_groupnorm_with_a_group_per_channel_is_instancenorm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 7))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    close(GroupNorm(groups=3, gamma=gamma, beta=beta).forward(x), InstanceNorm(gamma=gamma, beta=beta).forward(x))


def test_instancenorm_forgets_each_images_brightness_and_contrast():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(1, 2, 3, 3))
    brighter = 3.0 * image + 10.0
    out = InstanceNorm(eps=1e-12).forward(np.concatenate([image, brighter]))
    np.testing.assert_allclose(out[0], out[1], atol=1e-9)
    bn = BatchNorm(eps=1e-12).forward(np.concatenate([image, brighter]))
    assert not np.allclose(bn[0], bn[1], atol=1e-3)  # BatchNorm keeps the difference between samples


def test_instancenorm_statistics_are_per_sample_per_channel():
    x = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    trace = InstanceNorm().trace(x)
    assert trace.stat_shape == (2, 3) and len(trace) == 4 * 6
    close(trace.mean, x.mean(axis=2).ravel())
    close(trace.var, x.var(axis=2).ravel())


def test_rmsnorm_hand_computed_subtracts_no_mean():
    x = np.array([[3.0, 4.0], [-3.0, -4.0]])
    trace = RMSNorm(gamma=np.array([1.0, 2.0]), eps=0.0).trace(x)
    r = math.sqrt(12.5)
    close(trace.stats["ms"], [12.5, 12.5])
    close(trace.stats["rms"], [r, r])
    close(trace.output, [[3 / r, 8 / r], [-3 / r, -8 / r]])  # signs kept: nothing was subtracted


def test_rmsnorm_and_layernorm_agree_only_on_rows_of_mean_zero():
    centred = np.array([[-1.0, 0.0, 1.0]])
    close(RMSNorm(eps=1e-5).forward(centred), LayerNorm(eps=1e-5).forward(centred))
    shifted = centred + 5.0
    close(LayerNorm().forward(shifted), LayerNorm().forward(centred))  # LayerNorm forgets the shift
    assert not np.allclose(RMSNorm().forward(shifted), RMSNorm().forward(centred))


def test_rmsnorm_default_eps_is_one_in_a_million_and_its_only_parameter_is_gamma():
    assert RMSNorm().eps == 1e-6
    layer = RMSNorm(gamma=np.ones(5))
    assert [p.name for p in layer.params()] == ["gamma"] and layer.param_count == 5


def test_rmsnorm_steps_are_mean_of_squares_rms_normalise_scale():
    trace = RMSNorm(gamma=np.ones(3)).trace(np.arange(6.0).reshape(2, 3))
    assert [s.phase for s in trace] == ["mean of squares"] * 2 + ["rms"] * 2 + ["normalise"] * 2 + ["scale"] * 2
    assert [s.result for s in trace] == ["ms"] * 2 + ["rms"] * 2 + ["x_hat"] * 2 + ["y"] * 2
    assert "beta" not in trace[-1].values and "mean" not in trace[-1].values
    assert trace[2].values["eps"] == 1e-6


def test_batchnorm_train_updates_running_statistics_with_the_unbiased_variance():
    x = np.array([[0.0], [2.0], [4.0]])  # mean 2, biased var 8/3, unbiased var 4
    trace = BatchNorm(momentum=0.25, running_mean=np.array([1.0]), running_var=np.array([2.0])).trace(x)
    close(trace.var, [8 / 3])  # the batch is normalised with the biased variance
    close(trace.stats["running_mean"], [0.75 * 1 + 0.25 * 2])
    close(trace.stats["running_var"], [0.75 * 2 + 0.25 * 4])


def test_batchnorm_running_statistics_default_to_zero_and_one():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    trace = BatchNorm().trace(x)
    close(trace.stats["running_mean"], [0.1 * 2, 0.1 * 5])
    close(trace.stats["running_var"], [0.9 + 0.1 * 2, 0.9])


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_batchnorm_momentum_zero_keeps_and_one_replaces_the_running_statistics(momentum):
    x = np.array([[1.0], [2.0], [6.0]])
    trace = BatchNorm(momentum=momentum, running_mean=np.array([7.0]), running_var=np.array([9.0])).trace(x)
    if momentum == 0:
        close(trace.stats["running_mean"], [7.0])
        close(trace.stats["running_var"], [9.0])
    else:
        close(trace.stats["running_mean"], [3.0])
        close(trace.stats["running_var"], [np.var([1.0, 2.0, 6.0], ddof=1)])


def test_batchnorm_eval_normalises_with_the_running_statistics():
    x = np.array([[2.0, 40.0, 100.0]])  # one test example: a batch of 1
    rm, rv = np.array([2.5, 22.0, 240.0]), np.array([3.0, 150.0, 15000.0])
    trace = BatchNorm(mode="eval", running_mean=rm, running_var=rv).trace(x)
    close(trace.output, (x - rm) / np.sqrt(rv + 1e-5))
    close(trace.mean, rm)
    close(trace.var, rv)
    close(trace.stats["batch_var"], [0.0, 0.0, 0.0])  # the example's own: no spread at all
    close(trace.stats["running_mean"], rm)  # eval changes nothing


def test_batchnorm_train_on_a_batch_of_one_gives_beta_everywhere():
    # What a single example would get from its own statistics (the reader refuses it, as PyTorch does)
    trace = BatchNorm(beta=np.array([0.5, -1.0])).trace(np.array([[3.0, 7.0]]))
    close(trace.var, [0.0, 0.0])
    close(trace.output, [[0.5, -1.0]])
    assert np.isnan(trace.stats["running_var"]).all()  # no unbiased variance of one value, as torch.batch_norm


def test_batchnorm_train_steps_carry_the_running_update_and_eval_steps_the_batchs_own():
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    train = BatchNorm(running_mean=np.array([1.0, 2.0])).trace(x)
    mean_step, var_step = train[1], train[3]  # feature 2's mean, then its variance
    assert mean_step.values["running_mean_before"] == 2.0
    close(mean_step.values["running_mean"], 0.9 * 2 + 0.1 * 20)
    close(var_step.values["unbiased_var"], 200.0)
    close(var_step.values["running_var"], 0.9 + 0.1 * 200)
    assert mean_step.formula == "mean = (1/m) * sum(x)"
    evaluated = BatchNorm(mode="eval", running_mean=np.array([1.0, 2.0])).trace(x)
    assert evaluated[1].values["mean"] == 2.0 and evaluated[1].values["batch_mean"] == 20.0
    assert evaluated[1].formula.startswith("mean = running_mean")
    assert len(evaluated) == len(train) == 8


def test_norm_members_mark_what_each_statistic_is_taken_over():
    x = np.zeros((2, 4, 3))
    gn = GroupNorm(groups=2).trace(x)
    expected = np.zeros(x.shape, dtype=bool)
    expected[1, 2:, :] = True  # sample 2, group 2: channels 3 and 4, every position
    np.testing.assert_array_equal(gn.members(3), expected)
    bn = BatchNorm().trace(np.zeros((3, 2, 2, 2)))
    assert bn.members(1)[:, 1].all() and not bn.members(1)[:, 0].any()


# --- every kind, every step, against the references -----------------------------------------------


@st.composite
def family_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["groupnorm", "instancenorm", "rmsnorm", "train", "eval"]))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    if kind in ("groupnorm", "instancenorm"):
        per_group = draw(st.integers(1, 3)) if kind == "groupnorm" else 1
        groups = draw(st.integers(1, 3))
        positions = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0 if kind == "groupnorm" else 1, 2))))
        if kind == "instancenorm" and math.prod(positions) < 2:
            positions = (2, *positions[1:])
        shape = (draw(st.integers(1, 3)), per_group * groups, *positions)
    elif kind == "rmsnorm":
        shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
    else:
        shape = (draw(st.integers(2, 4)), draw(st.integers(1, 3))) if draw(st.booleans()) else \
            tuple(draw(st.integers(1, 3)) for _ in range(2)) + (2, draw(st.integers(1, 2)))
    x = rng.normal(draw(st.floats(-5, 5)), draw(st.floats(0.1, 3)), size=shape)
    n = shape[-1] if kind == "rmsnorm" else shape[1]
    gamma, beta = rng.normal(size=n), rng.normal(size=n)
    if kind == "groupnorm":
        layer = GroupNorm(groups=groups, gamma=gamma, beta=beta, eps=eps)
        reference = grouped_reference(x, per_group, eps, gamma, beta)
    elif kind == "instancenorm":
        layer = InstanceNorm(gamma=gamma, beta=beta, eps=eps)
        reference = grouped_reference(x, 1, eps, gamma, beta)
    elif kind == "rmsnorm":
        layer = RMSNorm(gamma=gamma, eps=eps)
        reference = rmsnorm_reference(x, eps, gamma)
    else:
        momentum = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
        rm, rv = rng.normal(size=n), rng.uniform(0, 3, size=n)
        layer = BatchNorm(gamma=gamma, beta=beta, eps=eps, mode=kind, momentum=momentum, running_mean=rm,
                          running_var=rv)
        reference = batchnorm_reference(x, eps, gamma, beta, kind, momentum, rm, rv)
    return kind, layer, x, reference


@FAST
@given(family_cases())
def test_norm_family_forward_and_statistics_match_reference(case):
    kind, layer, x, reference = case
    trace = layer.trace(x)
    close(layer.forward(x), reference[0])
    close(trace.output, reference[0])
    if kind in ("groupnorm", "instancenorm"):
        close(trace.mean.reshape(trace.stat_shape), reference[1])
        close(trace.var.reshape(trace.stat_shape), reference[2])
    elif kind == "rmsnorm":
        close(trace.stats["rms"], reference[1])
    else:
        for name, expected in zip(("mean", "var", "running_mean", "running_var"), reference[1:]):
            close(trace.stats[name], expected)


def members_of(kind, layer, shape, g):
    """The input indices of statistic ``g``, from the references' own grouping."""
    if kind in ("groupnorm", "instancenorm"):
        per_group = 1 if kind == "instancenorm" else shape[1] // layer.groups
        return channel_groups(shape, per_group)[g]
    if kind == "rmsnorm":
        return [idx for idx in indices(shape) if np.ravel_multi_index(idx[:-1], shape[:-1]) == g] \
            if len(shape) > 1 else indices(shape)
    return [idx for idx in indices(shape) if idx[1] == g]


@FAST
@given(family_cases())
def test_norm_family_every_step_matches_reference(case):
    kind, layer, x, reference = case
    trace = layer.trace(x)
    groups = trace.group_total
    first, second = layer.stats
    assert len(trace) == layer.step_count(x.shape) == 4 * groups
    for step in trace:
        phase, g = divmod(step.index, groups)
        assert step.phase == layer.phases[phase] and step.highlight["group"] == g
        members = members_of(kind, layer, x.shape, g)
        np.testing.assert_array_equal(step.values["x"], [x[idx] for idx in members])
        np.testing.assert_array_equal(trace.members(g), np.isin(np.arange(x.size).reshape(x.shape),
                                                                [np.ravel_multi_index(i, x.shape) for i in members]))
        y = reference[0]
        if kind == "rmsnorm":
            ms = math.fsum(float(x[i]) ** 2 for i in members) / len(members)
            expected = {"ms": ms, "rms": math.sqrt(ms + layer.eps),
                        "x_hat": [x[i] / math.sqrt(ms + layer.eps) for i in members]}
        else:
            mean, var = np.asarray(reference[1]).ravel()[g], np.asarray(reference[2]).ravel()[g]
            x_hat = [(x[i] - mean) / math.sqrt(var + layer.eps) for i in members]
            expected = {"mean": mean, "var": var, "x_hat": x_hat}
        expected["y"] = [y[i] for i in members]
        close(step.values[step.result], expected[step.result])
        assert (second in step.values) == (phase >= 1) and (first in step.values)
        computed = np.zeros(x.shape, dtype=bool)
        for done in range(g + 1 if phase == 3 else 0):
            for i in members_of(kind, layer, x.shape, done):
                computed[i] = True
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    assert trace.filled(trace[-1].done).all()
