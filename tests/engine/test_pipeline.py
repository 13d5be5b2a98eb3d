"""Pipeline: layers chained, one global step number, compare groups and replacing a layer.

Values are compared exactly: a pipeline runs the same layers on the same arrays as calling them by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepper.engine import RNN, BatchNorm, Conv2d, Dropout, LayerNorm, Pipeline, Pool2d, Position

FAST = settings(max_examples=50, deadline=None)


def same_step(a, b):
    assert (a.index, a.phase, a.unit, a.done, a.result, a.formula) == (b.index, b.phase, b.unit, b.done, b.result,
                                                                        b.formula)
    assert a.values.keys() == b.values.keys()
    for key in a.values:
        np.testing.assert_array_equal(a.values[key], b.values[key])
    np.testing.assert_array_equal(a.output, b.output)


def image_pipeline(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 6))
    conv = Conv2d(kernel=rng.normal(size=(2, 1, 3, 3)), bias=rng.normal(size=2), padding=(1, 1))
    pool = Pool2d(size=(2, 2), stride=(2, 2), kind="max")
    drop = Dropout(p=0.5, seed=3)
    return x, [conv, pool, drop]


def text_pipeline(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 4))
    rnn = RNN(rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=3))
    norm = LayerNorm(gamma=rng.normal(size=3), beta=rng.normal(size=3))
    drop = Dropout(p=0.3, seed=9)
    return x, [rnn, norm, drop]


# --- chaining -----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [image_pipeline, text_pipeline])
def test_pipeline_each_layer_receives_the_previous_output(make):
    x, layers = make()
    pipeline = Pipeline(x, [[layer] for layer in layers])
    expected = x
    for layer, trace in zip(layers, pipeline.traces):
        np.testing.assert_array_equal(trace.input, expected)
        expected = layer.forward(expected)
        np.testing.assert_array_equal(trace.output, expected)
    np.testing.assert_array_equal(pipeline.output, expected)
    assert len(pipeline) == sum(len(t) for t in pipeline.traces)
    assert pipeline.param_count == sum(layer.param_count for layer in layers)


def test_pipeline_param_count_sums_layers():
    x, layers = text_pipeline()
    assert Pipeline(x, [[layer] for layer in layers]).param_count == (4 * 3 + 3 * 3 + 3) + (3 + 3) + 0
    x, layers = image_pipeline()
    assert Pipeline(x, [[layer] for layer in layers]).param_count == (2 * 1 * 3 * 3 + 2) + 0 + 0


# --- global step numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [image_pipeline, text_pipeline])
def test_pipeline_global_step_matches_iteration(make):
    x, layers = make()
    pipeline = Pipeline(x, [[layer] for layer in layers])
    walked = list(pipeline.steps())
    assert len(walked) == len(pipeline)
    for k in np.random.default_rng(1).permutation(len(pipeline)):
        k = int(k)
        position, step = pipeline.step(k)
        layer, expected = walked[k]
        assert position == Position(k, layer, step.index)
        assert pipeline.start(layer) + step.index == k
        assert pipeline.locate(k) == position
        same_step(step, expected)


def test_pipeline_layer_boundaries():
    x, layers = text_pipeline()
    pipeline = Pipeline(x, [[layer] for layer in layers])
    n_rnn, n_norm = 5 * 4, 5 * 4
    assert [pipeline.start(i) for i in range(3)] == [0, n_rnn, n_rnn + n_norm]
    assert pipeline.step(n_rnn - 1)[0] == Position(n_rnn - 1, 0, n_rnn - 1)
    assert pipeline.step(n_rnn)[0] == Position(n_rnn, 1, 0)
    assert pipeline.step(len(pipeline) - 1)[0] == Position(len(pipeline) - 1, 2, 14)


def test_pipeline_negative_and_out_of_range_steps():
    x, layers = text_pipeline()
    pipeline = Pipeline(x, [[layer] for layer in layers])
    n = len(pipeline)
    last_position, last = pipeline.step(-1)
    assert last_position.layer == 2 and last_position.local == 14
    same_step(last, pipeline.step(n - 1)[1])
    same_step(pipeline.step(-n)[1], pipeline.step(0)[1])
    for bad in (n, n + 5, -n - 1):
        with pytest.raises(IndexError):
            pipeline.step(bad)


@FAST
@given(st.integers(0, 2**32 - 1), st.lists(st.sampled_from(["conv", "pool", "drop", "norm"]), min_size=1,
                                           max_size=4))
def test_pipeline_random_chain_matches_forward_and_iteration(seed, kinds):
    rng = np.random.default_rng(seed)
    c, h, w = 2, 6, 6
    x = rng.normal(size=(c, h, w))
    layers = []
    for kind in kinds:
        if kind == "conv":
            o = int(rng.integers(1, 3))
            layers.append(Conv2d(kernel=rng.normal(size=(o, c, 3, 3)), bias=rng.normal(size=o), padding=(1, 1)))
            c = o
        elif kind == "pool":
            layers.append(Pool2d(size=(2, 2), stride=(1, 1), kind=str(rng.choice(["max", "avg"]))))
            h, w = h - 1, w - 1
        elif kind == "drop":
            layers.append(Dropout(p=0.5, seed=int(rng.integers(100))))
        else:
            layers.append(LayerNorm(gamma=rng.normal(size=w), beta=rng.normal(size=w)))
    pipeline = Pipeline(x, [[layer] for layer in layers])
    expected = x
    for layer in layers:
        expected = layer.forward(expected)
    np.testing.assert_array_equal(pipeline.output, expected)
    assert len(pipeline) == sum(layer.step_count(t.input.shape) for layer, t in zip(layers, pipeline.traces))
    walked = list(pipeline.steps())
    for k in sorted({0, len(pipeline) - 1, *rng.integers(0, len(pipeline), 10).tolist()}):
        position, step = pipeline.step(k)
        assert walked[k][0] == position.layer
        same_step(step, walked[k][1])


# --- compare groups -----------------------------------------------------------------------------


def compare_pipeline():
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, size=(4, 3))
    bn = BatchNorm(gamma=np.ones(3), beta=np.zeros(3))
    ln = LayerNorm(gamma=np.ones(3), beta=np.zeros(3))
    drop = Dropout(p=0.5, seed=1)
    return x, bn, ln, drop, Pipeline(x, [[bn, ln], [drop]])


def test_pipeline_compare_members_share_the_input_and_the_first_goes_on():
    x, bn, ln, drop, pipeline = compare_pipeline()
    assert pipeline.layers == [bn, ln, drop]
    np.testing.assert_array_equal(pipeline.traces[0].input, x)
    np.testing.assert_array_equal(pipeline.traces[1].input, x)
    np.testing.assert_array_equal(pipeline.traces[1].output, ln.forward(x))
    np.testing.assert_array_equal(pipeline.traces[2].input, bn.forward(x))
    assert not np.allclose(bn.forward(x), ln.forward(x))  # so feeding the wrong member would show
    np.testing.assert_array_equal(pipeline.output, drop.forward(bn.forward(x)))
    assert pipeline.group == [0, 0, None]
    assert pipeline.members(0) == pipeline.members(1) == [0, 1]
    assert pipeline.members(2) == [2]


def test_pipeline_compare_members_are_numbered_flat_in_global_steps():
    x, bn, ln, drop, pipeline = compare_pipeline()
    # batchnorm: 3 features x 4 formulas; layernorm: 4 samples x 4 formulas; dropout: 12 elements
    assert [pipeline.start(i) for i in range(3)] == [0, 12, 28]
    assert len(pipeline) == 12 + 16 + 12
    assert pipeline.step(11)[0] == Position(11, 0, 11)
    assert pipeline.step(12)[0] == Position(12, 1, 0)
    assert pipeline.step(28)[0] == Position(28, 2, 0)


def test_pipeline_output_of_a_final_compare_group_is_its_first_member():
    x, bn, ln, _, _ = compare_pipeline()
    pipeline = Pipeline(x, [[bn, ln]])
    np.testing.assert_array_equal(pipeline.output, bn.forward(x))


# --- replacing a layer --------------------------------------------------------------------------


def test_pipeline_with_layer_reruns_later_layers():
    x, (rnn, _, _) = text_pipeline()
    drop_first = Dropout(p=0.5, seed=1)
    norm = LayerNorm(gamma=np.full(4, 1.5), beta=np.full(4, 0.1))
    pipeline = Pipeline(x, [[drop_first], [norm], [rnn]])
    fresh = drop_first.resampled(2)
    replaced = pipeline.with_layer(0, fresh)
    assert replaced is not pipeline and replaced.layers == [fresh, norm, rnn]
    assert not np.array_equal(fresh.forward(x), drop_first.forward(x))
    np.testing.assert_array_equal(replaced.traces[0].output, fresh.forward(x))
    np.testing.assert_array_equal(replaced.traces[1].input, fresh.forward(x))
    np.testing.assert_array_equal(replaced.traces[2].input, norm.forward(fresh.forward(x)))
    np.testing.assert_array_equal(replaced.output, rnn.forward(norm.forward(fresh.forward(x))))
    # the original is untouched
    np.testing.assert_array_equal(pipeline.output, rnn.forward(norm.forward(drop_first.forward(x))))
    assert not np.array_equal(replaced.output, pipeline.output)


def test_pipeline_with_layer_keeps_earlier_layers():
    x, layers = image_pipeline()
    pipeline = Pipeline(x, [[layer] for layer in layers])
    replaced = pipeline.with_layer(2, layers[2].toggled())
    for i in (0, 1):
        np.testing.assert_array_equal(replaced.traces[i].output, pipeline.traces[i].output)
    np.testing.assert_array_equal(replaced.output, pipeline.traces[1].output)  # eval dropout: identity


def test_pipeline_with_layer_in_a_compare_group():
    x, bn, ln, drop, pipeline = compare_pipeline()
    ln2 = LayerNorm(gamma=np.full(3, 2.0), beta=np.zeros(3))
    second = pipeline.with_layer(1, ln2)  # not the member that goes on: the next stage is unchanged
    assert second.layers == [bn, ln2, drop] and second.group == [0, 0, None]
    np.testing.assert_array_equal(second.traces[1].output, ln2.forward(x))
    np.testing.assert_array_equal(second.output, pipeline.output)
    first = pipeline.with_layer(0, ln2)  # the member that goes on: the next stage reruns on its output
    np.testing.assert_array_equal(first.traces[2].input, ln2.forward(x))
    np.testing.assert_array_equal(first.output, drop.forward(ln2.forward(x)))


# --- row labels ---------------------------------------------------------------------------------


def test_pipeline_labels_follow_rows_through_rnn_but_not_conv():
    rng = np.random.default_rng(6)
    tokens = ("你", "个", "扑", "该", "!")
    x = rng.normal(size=(5, 4))
    rnn = RNN(rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3))
    conv = Conv2d(kernel=rng.normal(size=(1, 1, 2, 2)), flat=True)
    norm = LayerNorm(gamma=np.ones(2), beta=np.zeros(2))
    pipeline = Pipeline(x, [[rnn], [conv], [norm]], tokens)
    assert pipeline.labels == [tokens, tokens, ()]
    assert pipeline.with_layer(2, norm).labels == [tokens, tokens, ()]
