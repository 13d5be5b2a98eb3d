"""Breakpoints: where they fire in `trace --json` (checked against the layers computed here by hand), the
names a condition reads, and the search behind n and N.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from stepper.breaks import Finder, Marks, step_names
from stepper.expr import parse
from stepper.layers import kind_of
from stepper.scenario import load

U = [[0.5, -1.0], [1.5, 0.25]]
W = [[0.5, 0.5], [-1.0, 1.0]]
B = [0.1, -0.2]
X = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5], [0.5, -0.5]]

RNN = f"""
    title: an RNN with every weight written out
    input: {{array: {X}}}
    layers:
      - type: rnn
        hidden: 2
        weights: {{U: {U}, W: {W}, b: {B}}}
        breakpoints: BREAKS
"""


def rnn_states() -> np.ndarray:
    """h_1..h_5, computed here with a plain loop."""
    h, out = np.zeros(2), []
    for x in np.array(X):
        h = np.tanh(x @ np.array(U) + h @ np.array(W) + np.array(B))
        out.append(h)
    return np.array(out)


def trace(stepper, write_scenario, text: str) -> list[dict]:
    result = stepper("trace", write_scenario(textwrap.dedent(text)), "--json")
    assert result.returncode == 0, result.stderr
    return [r for r in map(json.loads, result.stdout.splitlines()) if r["event"] == "step"]


def fired(steps: list[dict]) -> list[int]:
    """The steps marked `"break": true`, numbered from 1 within their layer, as the file writes them."""
    assert all(r.get("break", True) is True for r in steps)  # true where it fires, absent elsewhere
    return [r["step"] for r in steps if "break" in r]


def test_trace_json_marks_the_steps_where_rnn_breakpoints_fire(stepper, write_scenario):
    h = rnn_states()
    breaks = '[2, {when: t == 3}, {when: "abs(max(h_t)) > 0.5"}, {when: "sum(h_t > 0) == 2"}]'
    steps = trace(stepper, write_scenario, RNN.replace("BREAKS", breaks))
    expected = {2}  # the number, from 1
    expected |= {4 * 2 + p + 1 for p in range(4)}  # t == 3: every phase of the third time step
    for t in range(5):  # h_t is known at the activation, the fourth phase of its time step
        if abs(h[t].max()) > 0.5 or (h[t] > 0).sum() == 2:
            expected.add(4 * t + 4)
    assert fired(steps) == sorted(expected)
    assert 0 < len(expected) < 20
    assert [r["t"] for r in steps] == [t + 1 for t in range(5) for _ in range(4)]
    assert [r["step"] for r in steps] == list(range(1, 21))


def test_trace_json_conditions_read_a_convolutions_place_and_result(stepper, write_scenario):
    image = np.arange(16.0).reshape(4, 4) % 5 - 2
    kernel = np.array([[1.0, -1.0], [2.0, 0.5]])
    text = f"""
        title: a 2x2 kernel over a 4x4 picture
        input: {{array: {image.tolist()}}}
        layers:
          - type: conv2d
            kernel: {kernel.tolist()}
            bias: 0.5
            breakpoints: [{{when: result < 0 and i >= 1}}, {{when: "j == 2 and max(products) > 3"}}]
        """
    steps = trace(stepper, write_scenario, text)
    expected = []
    for i in range(3):
        for j in range(3):
            products = image[i:i + 2, j:j + 2] * kernel
            y = products.sum() + 0.5
            if (y < 0 and i >= 1) or (j == 2 and products.max() > 3):
                expected.append(3 * i + j + 1)
    assert fired(steps) == expected and expected
    assert [(r["o"], r["i"], r["j"]) for r in steps] == [(0, i, j) for i in range(3) for j in range(3)]


def test_trace_json_dropout_and_norm_conditions(stepper, write_scenario):
    text = """
        title: a batch through dropout, then its statistics
        input: {array: [[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]}
        layers:
          - type: dropout
            p: 0.5
            mask: [[1, 0, 1], [0, 1, 1]]
            breakpoints: [{when: not keep}, 6]
          - type: batchnorm
            breakpoints: [{when: feature == 3 and var > 1}]
        """
    steps = trace(stepper, write_scenario, text)
    dropout = [r for r in steps if r["layer"] == 0]
    norm = [r for r in steps if r["layer"] == 1]
    assert fired(dropout) == [2, 4, 6]
    y = np.array([[2.0, 0.0, 6.0], [0.0, 10.0, -12.0]])  # the dropout's output, the norm's input
    var = y.var(axis=0)
    assert var[2] > 1
    # the variance is known from the variance phase on: steps 3 * 1 + 3 (var), then normalise, scale
    assert fired(norm) == [3 + 3, 6 + 3, 9 + 3]
    assert [r["feature"] for r in norm] == [1, 2, 3] * 4


def test_trace_json_without_breakpoints_marks_nothing(stepper, write_scenario):
    steps = trace(stepper, write_scenario, RNN.replace("        breakpoints: BREAKS\n", ""))
    assert fired(steps) == []


# --- the names a condition reads ------------------------------------------------------------------------


def test_step_names_are_the_json_lines_values_step_and_place(write_scenario):
    scenario = load(write_scenario(textwrap.dedent(RNN.replace("        breakpoints: BREAKS\n", ""))))
    trace = scenario.pipeline.traces[0]
    names = step_names(kind_of(trace.layer), trace[11])  # t = 3, the activation
    assert names["step"] == 12.0 and names["t"] == 3.0
    np.testing.assert_allclose(names["h_t"], rnn_states()[2])
    assert set(names) == {"step", "t", "x_t", "h_prev", "xU", "hW", "b", "a_t", "h_t"}
    assert "h_t" not in step_names(kind_of(trace.layer), trace[8])  # not yet computed at x_t U


# --- the search behind n and N ------------------------------------------------------------------------------


@pytest.fixture
def pipeline(write_scenario):
    """Two layers: a 20-step RNN, then a 10-step dropout."""
    text = RNN.replace("        breakpoints: BREAKS\n", "") + "      - type: dropout\n        p: 0.5\n"
    scenario = load(write_scenario(textwrap.dedent(text)))
    return scenario.pipeline


def finder(pipeline, rnn: Marks = Marks(), dropout: Marks = Marks()) -> Finder:
    return Finder(pipeline, [rnn, dropout], [kind_of(layer) for layer in pipeline.layers])


def when(text: str):
    from stepper.breaks import Condition, Spot

    return Condition(text, parse(text), Spot(1, 1, True))


def test_search_goes_forward_and_back_over_layers(pipeline):
    f = finder(pipeline, Marks(numbers=(3, 15)), Marks(numbers=(2,)))
    assert f.search(0, 1).hit == 3
    assert f.search(3, 1).hit == 15
    assert f.search(15, 1).hit == 22  # the dropout's third step, global 20 + 2
    assert f.search(22, 1).hit is None
    assert f.search(29, -1).hit == 22 and f.search(22, -1).hit == 15 and f.search(3, -1).hit is None


def test_search_finds_conditions_and_remembers_each_answer(pipeline):
    f = finder(pipeline, Marks(conditions=(when("t == 4"),)))
    assert f.search(0, 1).hit == 12
    assert f.search(12, 1).hit == 13
    assert f.search(15, 1).hit is None
    assert f.search(19, -1).hit == 15
    # every step the searches passed has been evaluated once and is remembered; the others never were
    assert [k for k, known in enumerate(f.known[0]) if not known] == [0, 14]
    assert f.known[1] is None  # the dropout has no conditions: nothing to remember


def test_b_adds_a_breakpoint_or_silences_the_files(pipeline):
    f = finder(pipeline, Marks(numbers=(5,)))
    assert f.toggle(9) and f.fires(9) and f.added == {9}
    assert not f.toggle(9) and not f.fires(9) and f.added == set()
    assert not f.toggle(5) and not f.fires(5) and f.silenced == {5}
    assert f.search(0, 1).hit is None
    assert f.toggle(5) and f.fires(5) and f.silenced == set()
    f.toggle(25)
    assert f.search(5, 1).hit == 25 and f.search(29, -1).hit == 25


def test_search_stops_at_its_budget_and_resumes(pipeline):
    f = finder(pipeline, Marks(conditions=(when("step == 19"),)))
    first = f.search(0, 1, budget=5)
    assert not first.done and first.resume == 5
    rest = f.search(first.resume, 1, budget=100)
    assert rest.done and rest.hit == 18


def large_convolution(breakpoints: str) -> str:
    """8 x 128 x 128 = 131,072 steps: a 3x3 kernel, 8 output channels, over a 3x128x128 input."""
    return textwrap.dedent(f"""
        title: a large convolution
        input: {{random: {{shape: [3, 128, 128]}}}}
        layers:
          - type: conv2d
            kernel_size: 3
            out_channels: 8
            padding: 1
            breakpoints: {breakpoints}
        """)


def test_search_over_a_large_convolution_evaluates_only_what_it_passes(write_scenario):
    text = large_convolution("[{when: o == 0 and i == 2 and j == 5}, {when: o == 7 and i == 127 and j == 120}]")
    scenario = load(write_scenario(text))
    assert len(scenario.pipeline) == 131_072
    f = finder_of(scenario)
    assert f.known[0].count(0) == len(scenario.pipeline)  # loading evaluated no step
    assert f.search(0, 1).hit == 2 * 128 + 5
    assert f.known[0].count(0) == len(scenario.pipeline) - (2 * 128 + 5)
    last = f.search(len(scenario.pipeline) - 1, -1, budget=1000)  # from the end, backwards
    assert last.done and last.hit == 7 * 128 * 128 + 127 * 128 + 120


def finder_of(scenario) -> Finder:
    return Finder(scenario.pipeline, [info.stops.breakpoints for info in scenario.info],
                  [kind_of(layer) for layer in scenario.layers])
