"""The normalisation family as files declare it: the keys and their defaults, what each `trace --json`
output line carries, where a step is (its names in JSON lines and breakpoint conditions), and the
parameters `check` and the shapes panel count. Numbers are checked against NumPy computed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stepper.report import records, summary
from stepper.scenario import load

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
IMAGES = "title: x\nseed: 2\ninput: {random: {shape: [2, 4, 2, 3]}}\nlayers:\n"


def output_lines(scenario) -> list[dict]:
    return [r for r in records(scenario) if r["event"] == "output"]


def test_norms_output_lines_carry_their_statistics_in_the_contracts_shapes(write_scenario):
    scenario = load(write_scenario(IMAGES + "  - compare:\n      - type: groupnorm\n        groups: 2\n"
                                            "      - type: instancenorm\n      - type: rmsnorm\n"))
    x = scenario.input
    group, instance, rms = output_lines(scenario)
    grouped = x.reshape(2, 2, -1)
    np.testing.assert_allclose(group["mean"], grouped.mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(group["var"], grouped.var(axis=2), rtol=1e-12)
    assert np.shape(group["mean"]) == (2, 2) and np.shape(instance["var"]) == (2, 4)  # (N, groups), (N, C)
    np.testing.assert_allclose(instance["mean"], x.reshape(2, 4, -1).mean(axis=2), rtol=1e-12)
    assert set(rms) - {"event", "layer", "type", "shape", "output"} == {"rms"}
    np.testing.assert_allclose(rms["rms"], np.sqrt((x ** 2).mean(axis=-1) + 1e-6).ravel(), rtol=1e-12)


def test_norms_batchnorm_output_line_in_train_and_eval_mode():
    train, evaluated = output_lines(load(str(SCENARIOS / "batchnorm_train_eval.yaml")))
    x = np.array([[1.0, 20.0, 300.0], [2.0, 40.0, 100.0], [3.0, 10.0, 200.0], [6.0, 30.0, 400.0]])
    before_mean, before_var = np.array([2.5, 22.0, 240.0]), np.array([3.0, 150.0, 15000.0])
    np.testing.assert_allclose(train["mean"], x.mean(axis=0))
    np.testing.assert_allclose(train["var"], x.var(axis=0))  # biased: what normalised the batch
    np.testing.assert_allclose(train["running_mean"], 0.9 * before_mean + 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(train["running_var"], 0.9 * before_var + 0.1 * x.var(axis=0, ddof=1))
    np.testing.assert_allclose(evaluated["mean"], before_mean)  # eval: mean and var are the running ones
    np.testing.assert_allclose(evaluated["var"], before_var)
    np.testing.assert_allclose(evaluated["output"], (x - before_mean) / np.sqrt(before_var + 1e-5))


def test_norms_steps_say_their_sample_and_group_or_channel(write_scenario):
    scenario = load(write_scenario(IMAGES + "  - type: groupnorm\n    groups: 2\n  - type: instancenorm\n"))
    steps = [r for r in records(scenario) if r["event"] == "step"]
    group = [(r["sample"], r["group"]) for r in steps if r["type"] == "groupnorm" and r["phase"] == "mean"]
    assert group == [(1, 1), (1, 2), (2, 1), (2, 2)]
    instance = [(r["sample"], r["channel"]) for r in steps if r["type"] == "instancenorm" and r["phase"] == "var"]
    assert instance == [(n, c) for n in (1, 2) for c in (1, 2, 3, 4)]


def test_norms_breakpoints_read_the_names_of_the_new_steps(write_scenario):
    scenario = load(write_scenario(IMAGES + "  - type: groupnorm\n    groups: 2\n"
                                            "    breakpoints: [{when: 'sample == 2 and group == 1 and var > 0'}]\n"
                                            "  - type: batchnorm\n"
                                            "    breakpoints: [{when: 'running_var > 0 and feature == 3'}]\n"))
    fired = [(r["type"], r["phase"]) for r in records(scenario) if r.get("break")]
    assert fired == [("groupnorm", "var"), ("groupnorm", "normalise"), ("groupnorm", "scale"),
                     ("batchnorm", "var"), ("batchnorm", "normalise"), ("batchnorm", "scale")]


@pytest.mark.parametrize("name, parameters", [
    ("norm_family.yaml", "30 parameters"),  # gamma and beta: 4 + 4 (batch) + 3 + 3 (layer) + 4 + 4 + 4 + 4
    ("rmsnorm_vs_layernorm.yaml", "9 parameters"),  # LayerNorm's gamma and beta, RMSNorm's gamma alone
    ("batchnorm_train_eval.yaml", "12 parameters"),  # running statistics are not trained: not counted
])
def test_norms_check_counts_gamma_and_beta_only(name, parameters):
    assert f"| {parameters}, " in summary(load(str(SCENARIOS / name)))


def test_norms_shapes_panel_lists_each_layers_gamma_and_beta():
    from stepper.tui.panels import shapes

    text = shapes(load(str(SCENARIOS / "rmsnorm_vs_layernorm.yaml"))).plain
    assert text.splitlines() == ["total 9 params", "input array (4, 3)", "1 layernorm (4, 3)→(4, 3)",
                                 "   gamma 3 = 3", "   beta 3 = 3", "2 rmsnorm (4, 3)→(4, 3)", "   gamma 3 = 3"]


def test_norms_defaults_are_pytorchs(write_scenario):
    scenario = load(write_scenario("title: x\ninput: {random: {shape: [3, 4, 2, 2]}}\nlayers:\n"
                                   "  - compare:\n      - type: batchnorm\n        mode: eval\n      - type: rmsnorm\n"
                                   "      - type: groupnorm\n        groups: 2\n      - type: instancenorm\n"))
    batch, rms, group, instance = scenario.layers
    assert (batch.momentum, batch.eps) == (0.1, 1e-5) and rms.eps == 1e-6 and group.eps == instance.eps == 1e-5
    mean, var = batch.running(4)
    np.testing.assert_array_equal(mean, np.zeros(4))
    np.testing.assert_array_equal(var, np.ones(4))


def test_norms_batchnorm_train_steps_name_the_running_statistic_that_gives_theirs_away():
    from stepper.layers import kind_of
    from stepper.quiz import computed
    from stepper.tui.hiding import Hidden, MaskedPipeline

    pipeline = load(str(SCENARIOS / "batchnorm_train_eval.yaml")).pipeline
    kind = kind_of(pipeline.layers[0])
    trace = pipeline.traces[0]
    assert [kind.reveals(step) for step in (trace[0], trace[3], trace[6])] == \
        [("running_mean",), ("unbiased_var", "running_var"), ()]
    assert kind.reveals(pipeline.traces[1][0]) == ()  # eval: the running statistic is the one used, not made
    step = trace[4]  # the variance of feature 2
    masked = MaskedPipeline(pipeline, Hidden(0, 4, *computed(kind, step), kind.reveals(step))).traces[0]
    assert np.isnan(masked.stats["var"][1]) and np.isnan(masked.stats["running_var"][1])
    assert not np.isnan(masked.stats["running_var"][[0, 2]]).any()
