"""conv_transpose2d against a loop reference written here, and against conv2d as its adjoint.

The reference scatters every input value's copy, one product at a time, straight into the cropped
output: a product whose position falls in the padding's border is dropped. Its output size is counted
from where the copies land (the last landing place, less the padding, plus output_padding), not taken
from the engine. The adjoint test checks what "transposed" means: for the same kernel, stride,
padding and dilation, <conv_transpose2d(x), z> = <x, conv2d(z)>.

Tolerances: rtol=1e-12, atol=1e-12 against the references (sums in a different order); exact equality
between the trace and ``forward``, and between the running sums once every value has scattered and
the uncropped output (both add the same products in the same order).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import ConvTranspose2d, Conv2d, transposed_size

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)


# --- the reference ----------------------------------------------------------------------------------


def reference_length(n, k, s, p, d, op):
    """The output length counted from the copies: the last place one lands, plus 1, less the padding on
    both sides, plus output_padding."""
    last = max(i * s + a * d for i in range(n) for a in range(k))
    return last + 1 - 2 * p + op


def conv_transpose_reference(x, K, bias, stride, padding, output_padding, dilation):
    """x (C, H, W), K (C, O, kh, kw): y[o, i*s + a*d - p, j*s + b*d - p] += x[c, i, j] K[c, o, a, b], plus bias[o]."""
    C, H, W = x.shape
    _, O, kh, kw = K.shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, padding, output_padding, dilation
    Ho, Wo = reference_length(H, kh, sh, ph, dh, oh), reference_length(W, kw, sw, pw, dw, ow)
    y = np.zeros((O, Ho, Wo))
    for o in range(O):
        y[o] += bias[o]
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    for a in range(kh):
                        for b in range(kw):
                            r, q = i * sh + a * dh - ph, j * sw + b * dw - pw
                            if 0 <= r < Ho and 0 <= q < Wo:
                                y[o, r, q] += float(x[c, i, j]) * float(K[c, o, a, b])
    return y


# --- fixed examples -----------------------------------------------------------------------------------


def test_conv_transpose2d_overlapping_copies_add_up():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer = ConvTranspose2d(kernel=np.ones((1, 1, 2, 2)), flat=True)
    # each value paints a 2x2 block of itself; the blocks overlap by one row and one column
    np.testing.assert_array_equal(layer.forward(x), [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_conv_transpose2d_stride_spreads_the_copies_apart():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer = ConvTranspose2d(kernel=np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]), stride=(2, 2), flat=True)
    np.testing.assert_array_equal(layer.forward(x), [[1, 10, 2, 20], [100, 1000, 200, 2000],
                                                     [3, 30, 4, 40], [300, 3000, 400, 4000]])
    gaps = ConvTranspose2d(kernel=np.ones((1, 1, 1, 1)), stride=(3, 3), flat=True).forward(x)
    np.testing.assert_array_equal(gaps, [[1, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]])


def test_conv_transpose2d_padding_crops_and_output_padding_gives_back_the_far_border():
    x = np.arange(1.0, 10.0).reshape(3, 3)
    bilinear = np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5])[None, None]
    layer = ConvTranspose2d(kernel=bilinear, bias=1.0, stride=(2, 2), padding=(1, 1), output_padding=(1, 1),
                            flat=True)
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape) == (6, 6)  # (3-1)*2 - 2 + 2 + 1 + 1: exactly twice the size
    rows, cols = layer.axes(x.shape)
    assert (rows.full, rows.canvas, rows.p, rows.cut_after) == (7, 7, 1, 0)  # the top row is cropped, not the bottom
    np.testing.assert_array_equal(out[::2, ::2], x + 1)  # the kernel's centre: the input itself
    np.testing.assert_array_equal(out[0, 1], (1 + 2) / 2 + 1)  # between two values: their mean
    np.testing.assert_array_equal(out[5, 5], 9 / 4 + 1)  # past the last value, only a quarter of it reaches


def test_conv_transpose2d_output_padding_past_the_copies_holds_only_the_bias():
    layer = ConvTranspose2d(kernel=np.ones((1, 1, 1, 1)), bias=0.5, stride=(3, 3), output_padding=(2, 1), flat=True)
    out = layer.forward(np.ones((2, 2)))
    rows, cols = layer.axes((2, 2))
    assert out.shape == (6, 5) and (rows.full, rows.canvas, rows.cut_after) == (4, 6, 0)
    np.testing.assert_array_equal(out[4:], 0.5)
    np.testing.assert_array_equal(out[:, 4], 0.5)


def test_conv_transpose2d_channels_in_and_out_with_pytorchs_kernel_layout():
    rng = np.random.default_rng(21)
    x, K, bias = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=2)
    geometry = dict(stride=(2, 3), padding=(1, 2), output_padding=(1, 0), dilation=(1, 2))
    out = ConvTranspose2d(kernel=K, bias=bias, **geometry).forward(x)
    ref = conv_transpose_reference(x, K, bias, *geometry.values())
    assert out.shape == ref.shape == (2, 8, 11)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)


def test_conv_transpose2d_4d_kernel_on_2d_input_keeps_the_channel_axis():
    x, K = np.ones((2, 2)), np.ones((1, 3, 2, 2))
    layer = ConvTranspose2d(kernel=K)
    assert layer.forward(x).shape == layer.output_shape(x.shape) == (3, 3, 3)


@pytest.mark.parametrize("n,k,s,p,d,op", [(3, 3, 2, 1, 1, 1), (3, 3, 2, 0, 1, 0), (5, 4, 2, 1, 1, 0),
                                          (1, 1, 1, 0, 1, 0), (4, 3, 3, 2, 2, 2), (7, 2, 1, 0, 3, 0)])
def test_conv_transpose2d_size_formula_counts_where_copies_land(n, k, s, p, d, op):
    assert transposed_size(n, k, s, p, d, op) == reference_length(n, k, s, p, d, op)


def test_conv_transpose2d_param_count_is_kernel_plus_one_bias_per_output_channel():
    layer = ConvTranspose2d(kernel=np.zeros((3, 8, 5, 4)))
    assert [p.name for p in layer.params()] == ["K", "bias"]
    assert layer.bias.shape == (8,) and layer.param_count == 3 * 8 * 5 * 4 + 8


def test_conv_transpose2d_layer_is_frozen_and_kernel_read_only():
    layer = ConvTranspose2d(kernel=np.ones((1, 1, 2, 2)), flat=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.stride = (2, 2)  # type: ignore[misc]
    with pytest.raises(ValueError):
        layer.kernel[0, 0, 0, 0] = 5.0


# --- the steps ----------------------------------------------------------------------------------------


def test_conv_transpose2d_steps_scatter_each_value_then_add_the_bias_per_output():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer = ConvTranspose2d(kernel=np.ones((1, 1, 2, 2)), bias=0.5, flat=True)
    steps = list(layer.trace(x))
    assert [s.phase for s in steps] == ["scatter"] * 4 + ["sum + bias"] * 9
    third = steps[2]  # x[1, 0] = 3 lands on rows 1-2, columns 0-1
    assert third.highlight["element"] == (0, 1, 0)
    assert third.highlight["rows"] == (1, 2) and third.highlight["cols"] == (0, 1)
    np.testing.assert_array_equal(third.values["copy"], 3 * np.ones((2, 2)))
    centre = steps[4 + 4]  # y[1, 1]: every value's copy reaches it
    assert centre.highlight["out"] == (1, 1) and len(centre.highlight["from"]) == 4
    assert centre.values["sum"] == 10 and centre.values["result"] == 10.5
    assert sorted(centre.values["xs"]) == [1, 2, 3, 4] and list(centre.values["ks"]) == [1, 1, 1, 1]
    assert [s.done for s in steps] == [0] * 4 + list(range(1, 10))


def test_conv_transpose2d_trace_units_are_input_rows_then_output_rows():
    layer = ConvTranspose2d(kernel=np.ones((2, 3, 2, 2)), stride=(2, 2))
    trace = layer.trace(np.ones((2, 2, 3)))  # per output channel: 2x2 input rows of 3, then 4 output rows of 6
    per_channel = 12 + 4 * 6
    assert len(trace) == layer.step_count((2, 2, 3)) == 3 * per_channel
    assert trace.units == 3 * (4 + 4)
    starts = [0, 3, 6, 9, 12, 18, 24, 30]
    assert [trace.unit_start(u) for u in range(trace.units)] == [o * per_channel + s for o in range(3) for s in starts]
    assert [s.unit for s in trace] == [trace.unit_of(k) for k in range(len(trace))]
    assert all(trace.unit_start(trace.unit_of(k)) <= k for k in range(len(trace)))


def test_conv_transpose2d_last_step_costs_what_the_first_costs():
    layer = ConvTranspose2d(kernel=np.ones((1, 1, 3, 3)), stride=(2, 2), flat=True)
    trace = layer.trace(np.ones((300, 300)))  # 90,000 scatters, then 361,201 outputs

    def cost(k: int) -> float:
        start = time.perf_counter()
        for _ in range(20):
            trace[k]
            trace.running(0, min(k, trace.scatters), range(100, 112), range(200, 220))
        return time.perf_counter() - start

    cost(0)
    assert cost(len(trace) - 1) < 10 * cost(0) + 0.05
    assert trace[-1].values["result"] == trace.output[-1, -1]


# --- property tests -----------------------------------------------------------------------------------


@st.composite
def conv_transpose_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = []
    for n, k, s, d, op in zip((H, W), (kh, kw), stride, dilation, output_padding):
        full = (n - 1) * s + d * (k - 1) + 1
        padding.append(draw(st.integers(0, min(2, (full + op - 1) // 2))))  # at least one output row is left
    form = draw(st.sampled_from(["flat", "2d-input", "3d-input"]))
    C = 1 if form != "3d-input" else draw(st.integers(1, 3))
    O = 1 if form == "flat" else draw(st.integers(1, 3))
    K, bias = rng.normal(size=(C, O, kh, kw)), rng.normal(size=O)
    x = rng.normal(size=(H, W) if form != "3d-input" else (C, H, W))
    layer = ConvTranspose2d(kernel=K, bias=bias, stride=stride, padding=tuple(padding),
                            output_padding=output_padding, dilation=dilation, flat=form == "flat")
    ref = conv_transpose_reference(x.reshape(C, H, W), K, bias, stride, padding, output_padding, dilation)
    return layer, x, ref, form


@FAST
@given(conv_transpose_cases())
def test_conv_transpose2d_forward_matches_reference(case):
    layer, x, ref, form = case
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(out, ref[0] if form == "flat" else ref, rtol=RTOL, atol=ATOL)


@FAST
@given(conv_transpose_cases())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    layer, x, ref, form = case
    if any(op >= s for op, s in zip(layer.output_padding, layer.stride)):
        return  # conv2d would then see output_padding // stride more rows than the input had
    g = x.reshape(-1, *x.shape[-2:])
    z = np.random.default_rng(0).normal(size=ref.shape)
    unbiased = dataclasses.replace(layer, bias=0.0, flat=False)
    conv = Conv2d(kernel=layer.kernel, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
    np.testing.assert_allclose(np.vdot(unbiased.forward(g), z), np.vdot(g, conv.forward(z)), rtol=1e-10, atol=1e-10)


@FAST
@given(conv_transpose_cases())
def test_conv_transpose2d_every_step_matches_reference(case):
    layer, x, ref, form = case
    trace = layer.trace(x)
    g = x.reshape(-1, *x.shape[-2:])
    C, H, W = g.shape
    O, Ho, Wo = ref.shape
    assert len(trace) == layer.step_count(x.shape) == O * (C * H * W + Ho * Wo)
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    rows, cols = range(trace.rows.canvas), range(trace.cols.canvas)
    computed = np.zeros(trace.output.shape, dtype=bool)
    for o in range(O):
        canvas, reached = np.zeros(trace.canvas.shape[1:]), np.zeros(trace.canvas.shape[1:], dtype=int)
        for m in range(C * H * W):  # the scatters: each value's copy, landed by hand where the step says
            step = trace[o * trace.per_channel + m]
            c, i, j = step.highlight["element"]
            assert (c, i, j) == np.unravel_index(m, g.shape) and step.highlight["channel"] == o
            np.testing.assert_array_equal(step.values["copy"], g[c, i, j] * layer.kernel[c, o])
            canvas[np.ix_(step.highlight["rows"], step.highlight["cols"])] += step.values["copy"]
            reached[np.ix_(step.highlight["rows"], step.highlight["cols"])] += 1
            sums, count = trace.running(o, m + 1, rows, cols)
            np.testing.assert_allclose(sums, canvas, rtol=RTOL, atol=ATOL)
            np.testing.assert_array_equal(count, reached)
            np.testing.assert_array_equal(trace.filled(step.done), computed)
        np.testing.assert_array_equal(trace.running(o, C * H * W, rows, cols)[0], trace.canvas[o])
        for m in range(Ho * Wo):  # the outputs: what landed, plus the bias
            step = trace[o * trace.per_channel + C * H * W + m]
            r, q = divmod(m, Wo)
            assert step.highlight["out"] == (r, q) and step.result == "result"
            np.testing.assert_allclose(step.values["products"].sum(), step.values["sum"], rtol=RTOL, atol=ATOL)
            for (c, i, j, a, b), product in zip(step.highlight["from"], step.values["products"]):
                assert i * layer.stride[0] + a * layer.dilation[0] - layer.padding[0] == r
                assert j * layer.stride[1] + b * layer.dilation[1] - layer.padding[1] == q
                assert product == g[c, i, j] * layer.kernel[c, o, a, b]
            np.testing.assert_allclose(step.values["result"], ref[o, r, q], rtol=RTOL, atol=ATOL)
            computed[(r, q) if form == "flat" else (o, r, q)] = True
            np.testing.assert_array_equal(trace.filled(step.done), computed)
    assert computed.all()
