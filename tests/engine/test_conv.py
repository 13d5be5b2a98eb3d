"""conv2d, conv1d, max and average pooling, against loop references written here.

The references index the unpadded input directly: a position outside it is padding, which counts
as 0 for convolution and average pooling (count_include_pad=True: the divisor is always kh*kw) and
is skipped for max pooling (padding never wins). Output sizes are counted by sliding the window,
not by the engine's formula.

Tolerances: rtol=1e-12, atol=1e-12 against the references (sums in a different order); exact
equality between the trace and ``forward`` (both come from the same vectorised pass).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import Conv1d, Conv2d, Pool2d, out_size

RTOL = ATOL = 1e-12
FAST = settings(max_examples=50, deadline=None)


# --- references ---------------------------------------------------------------------------------


def count_positions(n, k, s, p, d):
    """How many window starts 0, s, 2s, ... fit the padded length n + 2p with a span of d(k-1)+1."""
    count = 0
    while count * s + d * (k - 1) <= n + 2 * p - 1:
        count += 1
    return count


def conv2d_reference(x, K, bias, stride, padding, dilation):
    """x (C, H, W), K (O, C, kh, kw): y[o, i, j] = bias[o] + sum K[o, c, a, b] x[c, i*s + a*d - p, ...]."""
    C, H, W = x.shape
    O, _, kh, kw = K.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = count_positions(H, kh, sh, ph, dh), count_positions(W, kw, sw, pw, dw)
    y = np.zeros((O, Ho, Wo))
    for o in range(O):
        for i in range(Ho):
            for j in range(Wo):
                total = float(bias[o])
                for c in range(C):
                    for a in range(kh):
                        for b in range(kw):
                            r, q = i * sh + a * dh - ph, j * sw + b * dw - pw
                            if 0 <= r < H and 0 <= q < W:
                                total += float(K[o, c, a, b]) * float(x[c, r, q])
                y[o, i, j] = total
    return y


def conv1d_reference(x, K, bias, stride, padding, dilation):
    """x (T, E), K (O, k, E): y[t, o] = bias[o] + sum_{a, e} K[o, a, e] x[t*s + a*d - p, e]."""
    T, E = x.shape
    O, k, _ = K.shape
    To = count_positions(T, k, stride, padding, dilation)
    y = np.zeros((To, O))
    for t in range(To):
        for o in range(O):
            total = float(bias[o])
            for a in range(k):
                r = t * stride + a * dilation - padding
                if 0 <= r < T:
                    for e in range(E):
                        total += float(K[o, a, e]) * float(x[r, e])
            y[t, o] = total
    return y


def pool_reference(x, kind, size, stride, padding):
    """x (C, H, W): max over the real elements under the window, or their sum / (kh*kw)."""
    C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = size, stride, padding
    Ho, Wo = count_positions(H, kh, sh, ph, 1), count_positions(W, kw, sw, pw, 1)
    y = np.zeros((C, Ho, Wo))
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                inside = [float(x[c, r, q])
                          for r in range(i * sh - ph, i * sh - ph + kh)
                          for q in range(j * sw - pw, j * sw - pw + kw)
                          if 0 <= r < H and 0 <= q < W]
                y[c, i, j] = max(inside) if kind == "max" else sum(inside) / (kh * kw)
    return y


# --- conv2d: fixed examples ---------------------------------------------------------------------


def test_conv2d_is_cross_correlation_not_convolution():
    x = np.arange(9.0).reshape(3, 3)
    kernel = np.array([[1.0, 0.0], [0.0, 0.0]])  # picks the top-left pixel; a flipped kernel would pick bottom-right
    layer = Conv2d(kernel=kernel[None, None], flat=True)
    np.testing.assert_array_equal(layer.forward(x), [[0.0, 1.0], [3.0, 4.0]])


def test_conv2d_hand_computed_with_padding_and_bias():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer = Conv2d(kernel=np.ones((1, 1, 2, 2)), bias=np.array([0.5]), padding=(1, 1), flat=True)
    expected = np.array([[1, 3, 2], [4, 10, 6], [3, 7, 4]]) + 0.5
    np.testing.assert_array_equal(layer.forward(x), expected)


def test_conv2d_flat_kernel_on_2d_input_gives_2d_output():
    rng = np.random.default_rng(10)
    x, k = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    layer = Conv2d(kernel=k[None, None], bias=np.array([0.25]), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                   flat=True)
    out = layer.forward(x)
    ref = conv2d_reference(x[None], k[None, None], [0.25], (2, 1), (1, 2), (1, 2))[0]
    assert out.shape == ref.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)


def test_conv2d_channels_in_and_out_with_stride_padding_dilation_bias():
    rng = np.random.default_rng(11)
    x, k, bias = rng.normal(size=(3, 9, 8)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    geometry = dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))
    out = Conv2d(kernel=k, bias=bias, **geometry).forward(x)
    ref = conv2d_reference(x, k, bias, geometry["stride"], geometry["padding"], geometry["dilation"])
    assert out.shape == (4, 5, 3)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)


def test_conv2d_4d_kernel_on_2d_input_keeps_the_channel_axis():
    rng = np.random.default_rng(12)
    x, k = rng.normal(size=(5, 5)), rng.normal(size=(2, 1, 3, 3))
    layer = Conv2d(kernel=k)
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape) == (2, 3, 3)
    np.testing.assert_allclose(out, conv2d_reference(x[None], k, [0, 0], (1, 1), (0, 0), (1, 1)),
                               rtol=RTOL, atol=ATOL)


def test_conv2d_scalar_bias_applies_to_every_channel():
    layer = Conv2d(kernel=np.zeros((3, 1, 1, 1)), bias=2.5)
    np.testing.assert_array_equal(layer.bias, [2.5, 2.5, 2.5])
    np.testing.assert_array_equal(layer.forward(np.ones((1, 2, 2))), np.full((3, 2, 2), 2.5))


@pytest.mark.parametrize("n,k,s,p,d", [(5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (10, 3, 3, 2, 2), (4, 4, 1, 0, 1),
                                       (128, 3, 1, 1, 1), (9, 2, 4, 0, 3)])
def test_conv_out_size_counts_window_positions(n, k, s, p, d):
    assert out_size(n, k, s, p, d) == count_positions(n, k, s, p, d)


def test_conv2d_param_count_is_kernel_plus_bias():
    layer = Conv2d(kernel=np.zeros((8, 3, 5, 4)))
    assert [p.name for p in layer.params()] == ["K", "bias"]
    assert layer.param_count == 8 * 3 * 5 * 4 + 8
    assert Conv2d(kernel=np.zeros((1, 1, 3, 3)), flat=True).param_count == 10


def test_conv1d_param_count_is_kernel_plus_bias():
    layer = Conv1d(kernel=np.zeros((6, 1, 3, 16)), size=(3, 16))
    assert layer.param_count == 6 * 3 * 16 + 6


# --- conv1d: fixed examples ---------------------------------------------------------------------


def make_conv1d(K, bias=0.0, stride=1, padding=0, dilation=1):
    """A Conv1d as the scenario reader builds it: (k, E) -> (1, 1, k, E) flat, (O, k, E) -> (O, 1, k, E)."""
    K = np.asarray(K, dtype=float)
    flat = K.ndim == 2
    kernel = K[None, None] if flat else K[:, None]
    return Conv1d(kernel=kernel, bias=bias, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1),
                  flat=flat)


def test_conv1d_hand_computed_window_spans_all_columns():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # T=3, E=2
    layer = make_conv1d([[1.0, 1.0], [1.0, 1.0]])  # k=2 over all E
    np.testing.assert_array_equal(layer.forward(x), [1 + 2 + 3 + 4, 3 + 4 + 5 + 6])


def test_conv1d_flat_kernel_gives_one_value_per_position():
    rng = np.random.default_rng(13)
    x, k = rng.normal(size=(9, 4)), rng.normal(size=(3, 4))
    layer = make_conv1d(k, bias=0.5, stride=2, padding=1, dilation=2)
    out = layer.forward(x)
    ref = conv1d_reference(x, k[None], [0.5], 2, 1, 2)[:, 0]
    assert out.shape == ref.shape == layer.output_shape(x.shape) == (4,)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)


def test_conv1d_many_kernels_give_time_by_channel_output():
    rng = np.random.default_rng(14)
    x, k, bias = rng.normal(size=(7, 3)), rng.normal(size=(5, 2, 3)), rng.normal(size=5)
    layer = make_conv1d(k, bias=bias, stride=1, padding=1)
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape) == (8, 5)
    np.testing.assert_allclose(out, conv1d_reference(x, k, bias, 1, 1, 1), rtol=RTOL, atol=ATOL)


def test_conv1d_does_not_pad_or_move_across_the_embedding():
    layer = make_conv1d(np.ones((1, 3)), padding=2)
    out = layer.forward(np.ones((2, 3)))
    # 2 + 2*2 = 6 positions along time, each sees either 0 or all 3 columns, never part of a row
    np.testing.assert_array_equal(out, [0, 0, 3, 3, 0, 0])


# --- pooling: fixed examples --------------------------------------------------------------------


def test_maxpool2d_padding_never_wins():
    x = -np.arange(1.0, 10.0).reshape(3, 3)  # all negative: a zero pad would win every edge window
    layer = Pool2d(size=(2, 2), stride=(2, 2), padding=(1, 1), kind="max")
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[-1.0, -2.0], [-4.0, -5.0]])
    assert layer.type == "maxpool2d"


def test_avgpool2d_counts_padding_in_the_divisor():
    x = np.ones((3, 3))
    layer = Pool2d(size=(2, 2), stride=(2, 2), padding=(1, 1), kind="avg")
    # the corner window holds one real 1 and three pads: 1/4, as PyTorch's count_include_pad=True
    np.testing.assert_array_equal(layer.forward(x), [[0.25, 0.5], [0.5, 1.0]])
    assert layer.type == "avgpool2d"


def test_maxpool2d_channels_pool_separately():
    rng = np.random.default_rng(15)
    x = rng.normal(size=(3, 6, 5))
    layer = Pool2d(size=(3, 2), stride=(2, 2), padding=(1, 1), kind="max")
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape) == (3, 3, 3)
    np.testing.assert_array_equal(out, pool_reference(x, "max", (3, 2), (2, 2), (1, 1)))


def test_maxpool2d_step_argmax_is_an_integer_index_into_the_window():
    x = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 9.0, 6.0, 7.0]])
    step = Pool2d(size=(2, 2), stride=(2, 2), kind="max").trace(x)[0]
    argmax = step.values["argmax"]
    assert np.issubdtype(argmax.dtype, np.integer)
    assert tuple(argmax) == (1, 1)
    assert step.values["window"][tuple(argmax)] == step.values["result"] == 9.0


def test_avgpool2d_step_shows_sum_and_count():
    x = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 9.0, 6.0, 7.0]])
    step = Pool2d(size=(2, 2), stride=(2, 2), kind="avg").trace(x)[1]
    assert step.values["sum"] == 18.0 and step.values["count"] == 4 and step.values["result"] == 4.5


def test_pool2d_has_no_parameters():
    assert Pool2d(size=(2, 2), stride=(2, 2), kind="avg").param_count == 0


# --- property tests -----------------------------------------------------------------------------


def fitting_length(draw, k, d, p, low=1, high=8):
    """An input length the padded window fits in."""
    return draw(st.integers(max(low, d * (k - 1) + 1 - 2 * p), max(high, d * (k - 1) + 1)))


@st.composite
def conv2d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H, W = fitting_length(draw, kh, dilation[0], padding[0]), fitting_length(draw, kw, dilation[1], padding[1])
    form = draw(st.sampled_from(["flat", "2d-input", "3d-input"]))
    C = 1 if form != "3d-input" else draw(st.integers(1, 3))
    O = 1 if form == "flat" else draw(st.integers(1, 3))
    K, bias = rng.normal(size=(O, C, kh, kw)), rng.normal(size=O)
    x = rng.normal(size=(H, W) if form != "3d-input" else (C, H, W))
    layer = Conv2d(kernel=K, bias=bias, stride=stride, padding=padding, dilation=dilation, flat=form == "flat")
    ref = conv2d_reference(x.reshape(C, H, W), K, bias, stride, padding, dilation)
    return layer, x, ref, form


def conv2d_element(form, o, i, j):
    """Where grid position (o, i, j) lands in the layer's output."""
    return (i, j) if form == "flat" else (o, i, j)


@FAST
@given(conv2d_cases())
def test_conv2d_forward_matches_reference(case):
    layer, x, ref, form = case
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(out, ref[0] if form == "flat" else ref, rtol=RTOL, atol=ATOL)


@FAST
@given(conv2d_cases())
def test_conv2d_every_step_matches_reference(case):
    layer, x, ref, form = case
    trace = layer.trace(x)
    assert len(trace) == layer.step_count(x.shape) == ref.size
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    grid = x.reshape(-1, *x.shape[-2:])
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    kh, kw = layer.kernel.shape[2:]
    computed = np.zeros(trace.output.shape, dtype=bool)
    for k, step in enumerate(trace):
        o, i, j = np.unravel_index(k, ref.shape)
        assert step.highlight["channel"] == o and tuple(step.highlight["out"]) == (i, j)
        rows = [i * sh + a * dh - ph for a in range(kh)]
        cols = [j * sw + b * dw - pw for b in range(kw)]
        assert list(step.highlight["rows"]) == rows and list(step.highlight["cols"]) == cols
        window = np.array([[[grid[c, r, q] if 0 <= r < grid.shape[1] and 0 <= q < grid.shape[2] else 0.0
                             for q in cols] for r in rows] for c in range(grid.shape[0])])
        np.testing.assert_array_equal(step.values["window"], window)
        np.testing.assert_array_equal(step.values["products"], window * layer.kernel[o])
        assert step.result == "result"
        np.testing.assert_allclose(step.values[step.result], ref[o, i, j], rtol=RTOL, atol=ATOL)
        computed[conv2d_element(form, o, i, j)] = True
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    assert computed.all()
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.output, layer.forward(x))


@st.composite
def conv1d_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k, s, p, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    T, E = fitting_length(draw, k, d, p), draw(st.integers(1, 4))
    flat = draw(st.booleans())
    O = 1 if flat else draw(st.integers(1, 3))
    K, bias = rng.normal(size=(O, k, E)), rng.normal(size=O)
    x = rng.normal(size=(T, E))
    layer = make_conv1d(K[0] if flat else K, bias=bias, stride=s, padding=p, dilation=d)
    return layer, x, conv1d_reference(x, K, bias, s, p, d), flat


@FAST
@given(conv1d_cases())
def test_conv1d_forward_matches_reference(case):
    layer, x, ref, flat = case
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape) == (ref.shape[:1] if flat else ref.shape)
    np.testing.assert_allclose(out, ref[:, 0] if flat else ref, rtol=RTOL, atol=ATOL)


@FAST
@given(conv1d_cases())
def test_conv1d_every_step_matches_reference(case):
    layer, x, ref, flat = case
    trace = layer.trace(x)
    T_out, O = ref.shape
    assert len(trace) == layer.step_count(x.shape) == T_out * O
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    computed = np.zeros(trace.output.shape, dtype=bool)
    for k, step in enumerate(trace):
        o, t = divmod(k, T_out)  # one output channel at a time, down the sequence
        assert list(step.highlight["cols"]) == list(range(x.shape[1]))  # the window spans every column
        np.testing.assert_allclose(step.values[step.result], ref[t, o], rtol=RTOL, atol=ATOL)
        computed[(t,) if flat else (t, o)] = True
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    assert computed.all()


@st.composite
def pool_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["max", "avg"]))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, size[0] // 2)), draw(st.integers(0, size[1] // 2)))  # PyTorch's limit
    H, W = fitting_length(draw, size[0], 1, padding[0]), fitting_length(draw, size[1], 1, padding[1])
    three_d = draw(st.booleans())
    C = draw(st.integers(1, 3)) if three_d else 1
    x = rng.normal(size=(C, H, W) if three_d else (H, W))
    if draw(st.booleans()):
        x = -np.abs(x) - 1.0  # all negative: zero padding would win a max
    layer = Pool2d(size=size, stride=stride, padding=padding, kind=kind)
    return layer, x, pool_reference(x.reshape(C, H, W), kind, size, stride, padding), three_d


@FAST
@given(pool_cases())
def test_pool2d_forward_matches_reference(case):
    layer, x, ref, three_d = case
    out = layer.forward(x)
    assert out.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(out, ref if three_d else ref[0], rtol=RTOL, atol=ATOL)


@FAST
@given(pool_cases())
def test_pool2d_every_step_matches_reference(case):
    layer, x, ref, three_d = case
    trace = layer.trace(x)
    assert len(trace) == layer.step_count(x.shape) == ref.size
    np.testing.assert_array_equal(trace.output, layer.forward(x))
    computed = np.zeros(trace.output.shape, dtype=bool)
    for k, step in enumerate(trace):
        c, i, j = np.unravel_index(k, ref.shape)
        np.testing.assert_allclose(step.values[step.result], ref[c, i, j], rtol=RTOL, atol=ATOL)
        if layer.kind == "max":
            a, b = step.values["argmax"]
            assert step.values["window"][a, b] == step.values["result"]
            assert np.isfinite(step.values["result"])
        else:
            assert step.values["count"] == layer.size[0] * layer.size[1]
        computed[(c, i, j) if three_d else (i, j)] = True
        np.testing.assert_array_equal(trace.filled(step.done), computed)
    assert computed.all()


def test_conv2d_trace_units_are_output_rows():
    layer = Conv2d(kernel=np.ones((2, 1, 2, 2)))
    trace = layer.trace(np.ones((4, 5)))  # output (2, 3, 4): 6 rows of 4 positions
    assert trace.units == 6
    assert [trace.unit_start(u) for u in range(6)] == [0, 4, 8, 12, 16, 20]
    assert [s.unit for s in trace] == [k // 4 for k in range(24)]


def test_conv2d_layer_is_frozen_and_kernel_read_only():
    layer = Conv2d(kernel=np.ones((1, 1, 2, 2)), flat=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.stride = (2, 2)  # type: ignore[misc]
    with pytest.raises(ValueError):
        layer.kernel[0, 0, 0, 0] = 5.0
    with pytest.raises(ValueError):
        layer.bias[0] = 5.0
