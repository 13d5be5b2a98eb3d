"""The Trace protocol every layer shares: random access, iteration, units, ``filled`` and frozen states.

Values are compared exactly here: random access and iteration must build the very same state.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import RNN, BatchNorm, Conv1d, Conv2d, Dropout, LayerNorm, Pool2d, Step, Trace
from stepper.engine.conv import WindowTrace
from stepper.engine.trace import Offsets

FAST = settings(max_examples=50, deadline=None)
KINDS = ["rnn", "conv2d", "conv1d", "maxpool2d", "avgpool2d", "batchnorm", "layernorm", "dropout"]


def build(kind, rng, small=True):
    """A layer of ``kind`` with random weights and a random input it accepts."""
    n = (lambda lo, hi: int(rng.integers(lo, hi + 1)))
    if kind == "rnn":
        t, i, h = n(1, 5), n(1, 4), n(1, 4)
        return RNN(rng.normal(size=(i, h)), rng.normal(size=(h, h)), rng.normal(size=h), rng.normal(size=h),
                   str(rng.choice(["tanh", "relu"]))), rng.normal(size=(t, i))
    if kind == "conv2d":
        c, o, kh, kw = n(1, 2), n(1, 3), n(1, 3), n(1, 3)
        x = rng.normal(size=(c, n(kh, 6), n(kw, 6)))
        return Conv2d(kernel=rng.normal(size=(o, c, kh, kw)), bias=rng.normal(size=o), stride=(n(1, 2), n(1, 2)),
                      padding=(n(0, 1), n(0, 1))), x
    if kind == "conv1d":
        k, e, o = n(1, 3), n(1, 3), n(1, 3)
        x = rng.normal(size=(n(k, 7), e))
        return Conv1d(kernel=rng.normal(size=(o, 1, k, e)), bias=rng.normal(size=o), stride=(n(1, 2), 1),
                      padding=(n(0, 1), 0)), x
    if kind in ("maxpool2d", "avgpool2d"):
        size = (n(1, 3), n(1, 3))
        x = rng.normal(size=(n(1, 2), n(size[0], 6), n(size[1], 6)))
        return Pool2d(size=size, stride=(n(1, 2), n(1, 2)), padding=(n(0, size[0] // 2), n(0, size[1] // 2)),
                      kind=kind[:3]), x
    if kind == "batchnorm":
        shape = (n(1, 4), n(1, 3)) if rng.random() < 0.5 else (n(1, 3), n(1, 3), n(1, 3), n(1, 3))
        return BatchNorm(gamma=rng.normal(size=shape[1]), beta=rng.normal(size=shape[1])), rng.normal(size=shape)
    if kind == "layernorm":
        shape = tuple(n(1, 4) for _ in range(n(1, 3)))
        return LayerNorm(gamma=rng.normal(size=shape[-1]), beta=rng.normal(size=shape[-1])), rng.normal(size=shape)
    if kind == "dropout":
        shape = tuple(n(1, 4) for _ in range(n(1, 3)))
        mode = str(rng.choice(["train", "eval"]))
        return Dropout(p=float(rng.choice([0.0, 0.3, 0.5])), seed=n(0, 1000), mode=mode), rng.normal(size=shape)
    raise AssertionError(kind)


layer_cases = st.builds(lambda kind, seed: (kind, *build(kind, np.random.default_rng(seed))),
                        st.sampled_from(KINDS), st.integers(0, 2**32 - 1))


def assert_same_step(a: Step, b: Step) -> None:
    """Two states are the same state: every field, every value, bit for bit."""
    for name in ("index", "phase", "unit", "formula", "done", "result", "note"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.highlight.keys() == b.highlight.keys()
    for key in a.highlight:
        np.testing.assert_array_equal(np.asarray(a.highlight[key]), np.asarray(b.highlight[key]))
    assert a.values.keys() == b.values.keys()
    for key in a.values:
        np.testing.assert_array_equal(a.values[key], b.values[key])
    np.testing.assert_array_equal(a.output, b.output)


# --- random access and iteration ----------------------------------------------------------------


@FAST
@given(layer_cases)
def test_trace_length_equals_step_count(case):
    kind, layer, x = case
    trace = layer.trace(x)
    assert len(trace) == layer.step_count(x.shape) > 0
    assert layer.output_shape(x.shape) == trace.output.shape


@FAST
@given(layer_cases)
def test_trace_random_access_agrees_with_iteration(case):
    kind, layer, x = case
    trace = layer.trace(x)
    iterated, generated = list(trace), list(layer.steps(x))
    assert len(iterated) == len(generated) == len(trace)
    order = np.random.default_rng(len(trace)).permutation(len(trace))  # visit in a scrambled order
    for k in order:
        assert trace[int(k)].index == int(k)
        assert_same_step(trace[int(k)], iterated[k])
        assert_same_step(trace[int(k)], generated[k])


@FAST
@given(layer_cases)
def test_trace_negative_indices_count_from_the_end(case):
    kind, layer, x = case
    trace = layer.trace(x)
    n = len(trace)
    for j in range(1, n + 1):
        assert_same_step(trace[-j], trace[n - j])
    assert_same_step(trace[np.int64(-1)], trace[n - 1])


@FAST
@given(layer_cases)
def test_trace_index_out_of_range_raises_index_error(case):
    kind, layer, x = case
    trace = layer.trace(x)
    n = len(trace)
    for bad in (n, n + 1, -n - 1, -n - 7):
        with pytest.raises(IndexError):
            trace[bad]
    assert sum(1 for _ in trace) == n  # iteration stops at the last step


def test_trace_rejects_non_integer_indices():
    trace = Dropout(p=0.5).trace(np.ones(4))
    for bad in (1.0, "1", slice(0, 2)):
        with pytest.raises(TypeError):
            trace[bad]
    assert trace[np.int32(2)].index == 2


# --- the last state is the vectorised pass ------------------------------------------------------


@FAST
@given(layer_cases)
def test_trace_last_state_equals_forward(case):
    kind, layer, x = case
    forward = layer.forward(x)
    trace = layer.trace(x)
    np.testing.assert_array_equal(trace.output, forward)
    *_, last = layer.steps(x)
    np.testing.assert_array_equal(last.output, forward)
    assert last.done == forward.size
    assert trace.filled(last.done).all()


# --- done, filled and units ---------------------------------------------------------------------


@FAST
@given(layer_cases)
def test_trace_done_grows_and_filled_marks_done_elements(case):
    kind, layer, x = case
    trace = layer.trace(x)
    previous = np.zeros(trace.output.shape, dtype=bool)
    assert not trace.filled(0).any()
    for step in trace:
        mask = trace.filled(step.done)
        assert mask.shape == trace.output.shape and mask.dtype == bool
        assert int(mask.sum()) == step.done
        assert (mask >= previous).all()  # once computed, an element stays computed
        previous = mask
    assert previous.all()


@FAST
@given(layer_cases)
def test_trace_units_are_contiguous_and_start_where_they_say(case):
    kind, layer, x = case
    trace = layer.trace(x)
    units = [step.unit for step in trace]
    assert units[0] == 0
    assert all(b - a in (0, 1) for a, b in zip(units, units[1:]))
    assert trace.units == units[-1] + 1
    for k, u in enumerate(units):
        assert trace.unit_of(k) == u
    for u in range(trace.units):
        assert trace.unit_start(u) == units.index(u)


# --- immutability -------------------------------------------------------------------------------


@FAST
@given(layer_cases)
def test_trace_states_are_immutable(case):
    kind, layer, x = case
    trace = layer.trace(x)
    for step in (trace[0], trace[len(trace) // 2], trace[-1]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            step.done = 0  # type: ignore[misc]
        assert isinstance(step.values, MappingProxyType) and isinstance(step.highlight, MappingProxyType)
        with pytest.raises(TypeError):
            step.values["extra"] = 1  # type: ignore[index]
        with pytest.raises(TypeError):
            step.highlight["extra"] = 1  # type: ignore[index]
        assert not step.output.flags.writeable
        with pytest.raises(ValueError):
            step.output[(0,) * step.output.ndim] = 1.0
        for key, value in step.values.items():
            if isinstance(value, np.ndarray):
                assert not value.flags.writeable, key
                with pytest.raises(ValueError):
                    value[...] = 0
    assert not trace.input.flags.writeable and not trace.output.flags.writeable


def test_trace_step_does_not_change_when_later_steps_are_built():
    layer, x = build("rnn", np.random.default_rng(5))
    trace = layer.trace(x)
    first = trace[0]
    before = {k: np.array(v, copy=True) for k, v in first.values.items()}
    list(trace)
    trace[-1]
    for key, value in before.items():
        np.testing.assert_array_equal(first.values[key], value)


# --- random access cost does not depend on k (structural, no timing) ---------------------------


VECTORISED = [(RNN, "_run"), (Conv2d, "grid"), (Pool2d, "grid"), (BatchNorm, "statistics"),
              (LayerNorm, "statistics"), (Dropout, "draw"), (RNN, "forward"), (Conv2d, "forward"),
              (Pool2d, "forward"), (BatchNorm, "forward"), (LayerNorm, "forward"), (Dropout, "forward")]


@pytest.mark.parametrize("kind", KINDS)
def test_trace_step_never_reruns_the_pass_nor_walks_earlier_steps(kind, monkeypatch):
    layer, x = build(kind, np.random.default_rng(KINDS.index(kind)))
    trace = layer.trace(x)
    expected_last, expected_mid = list(trace)[-1], list(trace)[len(trace) // 2]

    def refuse(*args, **kwargs):
        raise AssertionError("building one step must not redo the vectorised pass or iterate")

    for cls, name in VECTORISED:
        monkeypatch.setattr(cls, name, refuse)
    monkeypatch.setattr(Trace, "__iter__", refuse)
    built = []
    original_step = type(trace).step

    def counting_step(self, k):
        built.append(k)
        return original_step(self, k)

    monkeypatch.setattr(type(trace), "step", counting_step)
    assert_same_step(trace[-1], expected_last)
    assert_same_step(trace[len(trace) // 2], expected_mid)
    assert built == [len(trace) - 1, len(trace) // 2]  # one state built per access, none before it


class CountingConv2d(Conv2d):
    """Conv2d that counts the windows it evaluates (class-level, the dataclass is frozen)."""

    calls: list = []

    def window_values(self, *args, **kwargs):
        CountingConv2d.calls.append(args)
        return super().window_values(*args, **kwargs)


def test_trace_large_conv_reaches_step_130000_without_iterating(monkeypatch):
    rng = np.random.default_rng(30)
    x, kernel, bias = rng.normal(size=(2, 128, 128)), rng.normal(size=(8, 2, 3, 3)), rng.normal(size=8)
    layer = CountingConv2d(kernel=kernel, bias=bias, padding=(1, 1))
    trace = layer.trace(x)
    assert trace.output.shape == (8, 128, 128) and len(trace) == 131_072 == layer.step_count(x.shape)

    def refuse(*args, **kwargs):
        raise AssertionError("random access iterated")

    monkeypatch.setattr(Trace, "__iter__", refuse)
    monkeypatch.setattr(WindowTrace, "__iter__", refuse, raising=False)
    CountingConv2d.calls.clear()
    step = trace[130_000]
    last = trace[len(trace) - 1]
    assert len(CountingConv2d.calls) == 2  # one window evaluated per access
    assert (step.highlight["channel"], tuple(step.highlight["out"])) == (7, (119, 80))
    assert (last.highlight["channel"], tuple(last.highlight["out"])) == (7, (127, 127))
    # the step's value, computed independently at (o, i, j) = (7, 119, 80) with padding 1
    o, i, j = 7, 119, 80
    expected = bias[o] + sum(kernel[o, c, a, b] * x[c, i + a - 1, j + b - 1]
                             for c in range(2) for a in range(3) for b in range(3)
                             if 0 <= i + a - 1 < 128 and 0 <= j + b - 1 < 128)
    np.testing.assert_allclose(step.values["result"], expected, rtol=1e-12)
    assert step.done == 130_001 and last.done == 131_072
    assert trace.filled(step.done).sum() == 130_001


# --- Offsets (global step numbers over several traces) ------------------------------------------


def test_trace_offsets_locate_every_global_step():
    lengths = [3, 0, 5, 1]
    offsets = Offsets(lengths)
    assert offsets.total == 9
    expected = [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (3, 0)]
    assert [offsets.locate(k) for k in range(9)] == expected  # the empty trace is skipped



@pytest.mark.parametrize("kind", KINDS)
def test_steps_params_and_layers_compare_by_identity(kind):
    """They hold arrays, so field-wise == would be ambiguous; identity lets them sit in sets and dicts."""
    layer, x = build(kind, np.random.default_rng(1))
    twin, _ = build(kind, np.random.default_rng(1))
    trace = layer.trace(x)
    first, again = trace[0], trace[0]
    assert first == first and first != again  # built twice: two steps, however alike
    assert layer == layer and layer != twin
    params = layer.params()
    assert len({layer, twin, *params, first, again}) == 4 + len(params)
