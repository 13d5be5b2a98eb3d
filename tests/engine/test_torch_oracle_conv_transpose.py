"""conv_transpose2d against PyTorch (float64), when torch is installed; skipped otherwise.

Run it with a separate environment that has torch, as .ci/run does:
    python3 -m venv .ci-torch && .ci-torch/bin/pip install torch==2.13.0 numpy pyyaml pytest hypothesis
    PYTHONPATH=. .ci-torch/bin/python -m pytest tests/engine/test_torch_oracle_conv_transpose.py
Nothing here imports Textual or Rich, directly or through stepper: that environment has neither.
Tolerances: rtol=1e-12, atol=1e-12 (float64 on both sides; only summation order differs).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import ConvTranspose2d
from stepper.scenario import load

from tests.engine.oracle import F, close, t, torch  # the file is skipped without torch

FAST = settings(max_examples=80, deadline=None)




@st.composite
def conv_transpose_cases(draw):
    """Any geometry PyTorch accepts: output_padding below the stride or the dilation, and a padding
    that leaves at least one output row and column."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    padding = tuple(draw(st.integers(0, min(3, ((n - 1) * s + d * (k - 1) + op) // 2)))
                    for n, k, s, d, op in zip((H, W), (kh, kw), stride, dilation, output_padding))
    C, O = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (rng.normal(size=(C, H, W)), rng.normal(size=(C, O, kh, kw)), rng.normal(size=O),
            dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation))


@FAST
@given(conv_transpose_cases())
def test_torch_conv_transpose2d_matches(case):
    x, K, bias, geometry = case
    ours = ConvTranspose2d(kernel=K, bias=bias, **geometry)
    theirs = F.conv_transpose2d(t(x)[None], t(K), t(bias), **geometry)[0]
    assert tuple(theirs.shape) == ours.output_shape(x.shape)
    close(ours.forward(x), theirs)
    trace = ours.trace(x)
    close(trace.output, theirs)
    last = trace[-1]  # the last output value, reached directly
    close(last.values["result"], theirs[-1, -1, -1])


@FAST
@given(conv_transpose_cases())
def test_torch_conv_transpose2d_module_with_our_weights_matches(case):
    x, K, bias, geometry = case
    module = torch.nn.ConvTranspose2d(K.shape[0], K.shape[1], K.shape[2:], dtype=torch.float64, **geometry)
    assert tuple(module.weight.shape) == K.shape  # PyTorch's layout: (in_channels, out_channels, kh, kw)
    with torch.no_grad():
        module.weight.copy_(t(K))
        module.bias.copy_(t(bias))
    close(ConvTranspose2d(kernel=K, bias=bias, **geometry).forward(x), module(t(x)[None])[0])


def test_torch_conv_transpose2d_flat_kernel_on_2d_input_matches():
    rng = np.random.default_rng(5)
    x, k = rng.normal(size=(4, 5)), rng.normal(size=(3, 2))
    geometry = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))
    ours = ConvTranspose2d(kernel=k[None, None], bias=np.array([0.3]), flat=True, **geometry)
    theirs = F.conv_transpose2d(t(x)[None, None], t(k)[None, None], t([0.3]), **geometry)[0, 0]
    close(ours.forward(x), theirs)


def test_torch_conv_transpose2d_refuses_what_stepper_refuses():
    x, K = t(np.ones((1, 1, 3, 3))), t(np.ones((1, 1, 3, 3)))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, K, stride=2, output_padding=2)
    with pytest.raises(RuntimeError):  # (3-1)*1 - 2*3 + (3-1) + 1 = -1 rows
        F.conv_transpose2d(x, K, padding=3)
    assert ConvTranspose2d(kernel=np.ones((1, 1, 3, 3)), padding=(3, 3)).output_shape((1, 3, 3)) == (1, -1, -1)


def test_torch_conv_transpose2d_parameter_count_matches():
    module = torch.nn.ConvTranspose2d(3, 8, (5, 4))
    ours = ConvTranspose2d(kernel=np.zeros((3, 8, 5, 4)))
    assert ours.param_count == sum(p.numel() for p in module.parameters())


def test_torch_conv_transpose2d_seeded_like_pytorch_initialises_it(tmp_path):
    """A `kernel_size` scenario draws K (C, O, kh, kw) and the bias (O,) uniform in +-1/sqrt(fan_in), with
    fan_in as PyTorch computes it for this layer (O kh kw: the sizes after the first); its output is
    PyTorch's for those weights."""
    path = tmp_path / "seeded.yaml"
    path.write_text(textwrap.dedent("""
        title: seeded
        seed: 9
        input: {random: {shape: [3, 4, 5]}}
        layers:
          - type: conv_transpose2d
            kernel_size: [3, 2]
            out_channels: 4
            stride: 2
            padding: 1
            output_padding: 1
        """), encoding="utf-8")
    scenario = load(str(path))
    layer, x = scenario.layers[0], scenario.input
    module = torch.nn.ConvTranspose2d(3, 4, (3, 2), stride=2, padding=1, output_padding=1, dtype=torch.float64)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    bound = 1 / np.sqrt(fan_in)
    assert layer.kernel.shape == tuple(module.weight.shape) and layer.bias.shape == tuple(module.bias.shape)
    assert np.abs(layer.kernel).max() <= bound and np.abs(layer.bias).max() <= bound
    assert np.abs(layer.kernel).max() > 0.8 * bound  # the whole range is used, not a narrower one
    assert np.abs(module.weight.detach().numpy()).max() <= bound
    with torch.no_grad():
        module.weight.copy_(t(layer.kernel))
        module.bias.copy_(t(layer.bias))
    close(scenario.pipeline.output, module(t(x)[None])[0])
