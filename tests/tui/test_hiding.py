"""Hiding the number a step computes (the quiz's `?`, a class poll's): wherever the trace keeps it, and
nothing else."""

from __future__ import annotations

import textwrap

import numpy as np

from stepper.layers import kind_of
from stepper.quiz import computed
from stepper.scenario import load
from stepper.tui.hiding import Hidden, MaskedPipeline, address, entry_at


def hidden_at(pipeline, k: int, also: tuple[str, ...] = ()) -> MaskedPipeline:
    """The pipeline with the number global step ``k`` computes hidden (and its values ``also``)."""
    pos, step = pipeline.step(k)
    found = computed(kind_of(pipeline.layers[pos.layer]), step)
    return MaskedPipeline(pipeline, Hidden(pos.layer, pos.local, *found, also))


def scenario(write_scenario, text: str):
    return load(write_scenario(textwrap.dedent(text))).pipeline


def test_entry_at_finds_an_entry_of_a_view_by_its_address():
    base = np.arange(24.0).reshape(2, 3, 4)
    view = base[:, :, 1].T  # (3, 2): its strides in the other order
    for index in np.ndindex(view.shape):
        assert entry_at(view, address(view, index)) == index
    assert entry_at(base[0], address(base, (1, 0, 0))) is None  # outside the view
    assert entry_at(base[:, :, ::2], address(base, (0, 0, 1))) is None  # between its entries


def test_an_rnn_state_hides_in_the_output_and_in_later_steps(write_scenario):
    pipeline = scenario(write_scenario, """
        title: x
        input: {array: [[1.0, 0.5], [-1.0, 2.0], [0.5, 0.5]]}
        layers:
          - type: rnn
            hidden: 3
        """)
    masked = hidden_at(pipeline, 7)  # h_2, at its activation
    trace, real = masked.traces[0], pipeline.traces[0]
    h = trace[7].values["h_t"]
    assert np.isnan(h[0]) and h[1:].tolist() == real.output[1, 1:].tolist()
    assert np.isnan(trace.output[1, 0]) and np.isnan(trace.output).sum() == 1
    assert np.isnan(trace[8].values["h_prev"][0])  # h_2 is h_{t-1} of the next step
    assert trace[7].values["a_t"].tolist() == real[7].values["a_t"].tolist()  # its operands stay
    assert not np.isnan(real.output).any()  # the pipeline itself is untouched


def test_a_convolution_hides_its_output_cell_and_what_gives_it_away(write_scenario):
    pipeline = scenario(write_scenario, """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
        layers:
          - type: conv2d
            kernel: [[1, 0], [0, -1]]
            bias: 0.5
        """)
    value = pipeline.traces[0].grid_values[0, 1, 0]
    plain = hidden_at(pipeline, 2).traces[0]
    assert np.isnan(plain.grid_values[0, 1, 0]) and np.isnan(plain.grid_values).sum() == 1
    assert np.isnan(plain[2].values["result"]) and plain[2].values["sum"] == value - 0.5  # the sum still shows
    told = hidden_at(pipeline, 2, also=("sum",)).traces[0]  # what a type declares with Kind.reveals
    assert np.isnan(told[2].values["sum"]) and told[2].values["bias"] == 0.5


def test_a_statistic_hides_wherever_the_trace_keeps_it(write_scenario):
    pipeline = scenario(write_scenario, """
        title: x
        input: {array: [[1.0, 20.0], [3.0, 40.0], [5.0, 10.0]]}
        layers:
          - type: batchnorm
        """)
    masked = hidden_at(pipeline, 1).traces[0]  # the mean of feature 2
    assert np.isnan(masked.stats["mean"][1]) and masked.stats["mean"][0] == 3.0
    assert np.isnan(masked[1].values["mean"])
    assert not np.isnan(masked.stats["x"]).any()  # the data stay, even where a value equals the mean
