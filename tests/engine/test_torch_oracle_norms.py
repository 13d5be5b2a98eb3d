"""The normalisation family against PyTorch (float64), when torch is installed; skipped otherwise:
GroupNorm, InstanceNorm, RMSNorm, and BatchNorm's train mode (with its running statistics) and eval.

Run it with a separate environment that has torch, as .ci/run does:
    python3 -m venv .ci-torch && .ci-torch/bin/pip install torch==2.13.0 numpy pyyaml pytest hypothesis
    PYTHONPATH=. .ci-torch/bin/python -m pytest tests/engine/test_torch_oracle_norms.py
That environment has neither textual nor rich: this file imports the engine and the scenario reader
only, and a test below checks that they do not reach for the TUI.
Tolerances: rtol=1e-12, atol=1e-12 (float64 on both sides; only summation order differs).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import BatchNorm, GroupNorm, InstanceNorm, RMSNorm

from tests.engine.oracle import F, close, t, torch  # the file is skipped without torch

FAST = settings(max_examples=50, deadline=None)




def test_torch_oracle_norms_import_neither_textual_nor_rich():
    code = textwrap.dedent("""
        import sys
        import stepper.engine.groupnorm, stepper.engine.norm, stepper.layers.norm, stepper.report
        from stepper.layers import kinds
        kinds()
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- GroupNorm and InstanceNorm -----------------------------------------------------------------


@st.composite
def channel_cases(draw, instance=False):
    """(x, groups, gamma, beta, eps): every statistic over at least 2 values, as stepper and PyTorch want."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    groups, per_group = draw(st.integers(1, 3)), 1 if instance else draw(st.integers(1, 3))
    positions = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1 if instance else 0, 2))))
    if per_group * np.prod(positions) < 2:
        positions = (2, *positions[1:])
    shape = (draw(st.integers(1, 3)), groups * per_group, *positions)
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    x = rng.normal(draw(st.floats(-4, 4)), draw(st.floats(0.2, 3)), size=shape)
    return x, groups, rng.normal(size=shape[1]), rng.normal(size=shape[1]), eps


@FAST
@given(channel_cases())
def test_torch_group_norm_matches(case):
    x, groups, gamma, beta, eps = case
    ours = GroupNorm(groups=groups, gamma=gamma, beta=beta, eps=eps)
    close(ours.forward(x), F.group_norm(t(x), groups, t(gamma), t(beta), eps))
    trace = ours.trace(x)
    close(trace.output, F.group_norm(t(x), groups, t(gamma), t(beta), eps))
    grouped = t(x).reshape(x.shape[0], groups, -1)
    close(trace.mean.reshape(trace.stat_shape), grouped.mean(dim=2))
    close(trace.var.reshape(trace.stat_shape), grouped.var(dim=2, unbiased=False))


@FAST
@given(channel_cases(instance=True))
def test_torch_instance_norm_matches(case):
    x, _, gamma, beta, eps = case
    ours = InstanceNorm(gamma=gamma, beta=beta, eps=eps)
    theirs = F.instance_norm(t(x), weight=t(gamma), bias=t(beta), eps=eps)
    close(ours.forward(x), theirs)
    trace = ours.trace(x)
    flat = t(x).reshape(*x.shape[:2], -1)
    close(trace.mean.reshape(trace.stat_shape), flat.mean(dim=2))
    close(trace.var.reshape(trace.stat_shape), flat.var(dim=2, unbiased=False))


def test_torch_instance_norm_module_with_affine_matches():
    rng = np.random.default_rng(7)
    x = rng.normal(2.0, 3.0, size=(2, 3, 4, 5))
    module = torch.nn.InstanceNorm2d(3, affine=True, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(t(rng.normal(size=3)))
        module.bias.copy_(t(rng.normal(size=3)))
    ours = InstanceNorm(gamma=module.weight.detach().numpy(), beta=module.bias.detach().numpy())
    close(ours.forward(x), module(t(x)))
    assert ours.param_count == sum(p.numel() for p in module.parameters())


# --- RMSNorm ------------------------------------------------------------------------------------


@st.composite
def rms_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
    x = rng.normal(draw(st.floats(-4, 4)), draw(st.floats(0.2, 3)), size=shape)
    return x, rng.normal(size=shape[-1]), draw(st.sampled_from([1e-6, 1e-5, 0.5]))


@FAST
@given(rms_cases())
def test_torch_rms_norm_matches(case):
    x, gamma, eps = case
    ours = RMSNorm(gamma=gamma, eps=eps)
    close(ours.forward(x), F.rms_norm(t(x), (x.shape[-1],), t(gamma), eps))
    rms = torch.sqrt((t(x) ** 2).mean(dim=-1) + eps)
    close(ours.trace(x).stats["rms"], rms.reshape(-1))


def test_torch_rms_norm_module_with_stepper_default_eps_matches():
    rng = np.random.default_rng(8)
    x = rng.normal(3.0, 1.0, size=(4, 6))
    module = torch.nn.RMSNorm(6, eps=1e-6, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(t(rng.normal(size=6)))
    ours = RMSNorm(gamma=module.weight.detach().numpy())
    close(ours.forward(x), module(t(x)))
    assert ours.param_count == sum(p.numel() for p in module.parameters())


# --- BatchNorm: train with running statistics, and eval -----------------------------------------


@st.composite
def batch_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        shape = (draw(st.integers(2, 6)), draw(st.integers(1, 4)))
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    c = shape[1]
    x = rng.normal(draw(st.floats(-4, 4)), draw(st.floats(0.2, 3)), size=shape)
    return (x, rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0, 4, size=c),
            draw(st.sampled_from([0.0, 0.1, 0.3, 1.0])), draw(st.sampled_from([1e-5, 0.1])))


@FAST
@given(batch_cases(), st.sampled_from(["train", "eval"]))
def test_torch_batch_norm_matches_in_train_and_eval_mode_running_statistics_too(case, mode):
    x, gamma, beta, rm, rv, momentum, eps = case
    ours = BatchNorm(gamma=gamma, beta=beta, eps=eps, mode=mode, momentum=momentum, running_mean=rm,
                     running_var=rv)
    running_mean, running_var = t(rm).clone(), t(rv).clone()  # torch updates them in place, as its buffers
    theirs = F.batch_norm(t(x), running_mean, running_var, t(gamma), t(beta), training=mode == "train",
                          momentum=momentum, eps=eps)
    trace = ours.trace(x)
    close(ours.forward(x), theirs)
    close(trace.output, theirs)
    close(trace.stats["running_mean"], running_mean)
    close(trace.stats["running_var"], running_var)
    if mode == "eval":  # the statistics it used are the running ones
        close(trace.mean, rm)
        close(trace.var, rv)


def test_torch_batch_norm_module_train_then_eval_on_one_example():
    rng = np.random.default_rng(9)
    batch, example = rng.normal(5.0, 2.0, size=(8, 3)), rng.normal(5.0, 2.0, size=(1, 3))
    module = torch.nn.BatchNorm1d(3, momentum=0.1, dtype=torch.float64)
    trained = module(t(batch))  # train mode: batch statistics, running ones updated
    train = BatchNorm(gamma=np.ones(3), beta=np.zeros(3)).trace(batch)
    close(train.output, trained)
    close(train.stats["running_mean"], module.running_mean)
    close(train.stats["running_var"], module.running_var)
    module.eval()
    evaluated = BatchNorm(mode="eval", running_mean=train.stats["running_mean"],
                          running_var=train.stats["running_var"]).trace(example)
    close(evaluated.output, module(t(example)))
    module.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # stepper refuses it too
        module(t(example))


def test_torch_batch_norm_op_on_a_batch_of_one_gives_beta_as_stepper_engine():
    x, beta = np.array([[3.0, 7.0]]), np.array([0.5, -1.0])
    running_mean, running_var = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    theirs = torch.batch_norm(t(x), t(np.ones(2)), t(beta), running_mean, running_var, True, 0.1, 1e-5, False)
    trace = BatchNorm(beta=beta).trace(x)
    close(trace.output, theirs)
    close(trace.stats["running_mean"], running_mean)
    assert torch.isnan(running_var).all() and np.isnan(trace.stats["running_var"]).all()
