"""Bad normalisation layers: groupnorm, instancenorm, rmsnorm and batchnorm's train/eval keys.

Every case is refused with one line `FILE:LINE:COL: message` and exit status 2, the line and column
at the offending node, the message saying what is wrong and what would be right. Each message is
pinned whole through the in-process reader; the real command line then checks every file in one
run (`stepper check` takes them all), and `run`, `trace` and `export` refuse like `check`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stepper.layers import COMMON
from stepper.scenario import ScenarioError, load
from tests.test_scenario_errors import assert_refused


@dataclass(frozen=True)
class Bad:
    id: str
    text: str
    line: int
    col: int
    message: str


BATCH = "title: x\ninput: {random: {shape: [4, 3]}}\nlayers:\n  - type: batchnorm\n"
IMAGES = "title: x\ninput: {random: {shape: [2, 4, 3]}}\nlayers:\n"


def known(*keys: str) -> str:
    """The keys an unknown key's message lists: those every layer takes, then the type's own."""
    return "known keys: " + ", ".join(COMMON + keys)


CASES = [
    # --- groupnorm ---
    Bad("groupnorm-without-groups", IMAGES + "  - type: groupnorm\n", 4, 5,
        "a groupnorm layer needs `groups: G`, how many groups each sample's channels are split into "
        "(for example groups: 2)"),
    Bad("groupnorm-groups-not-dividing-channels", IMAGES + "  - type: groupnorm\n    groups: 3\n", 5, 13,
        "groups is 3, but the input has 4 channels: groups must divide 4 (1, 2 or 4), so that every group has "
        "as many channels"),
    Bad("groupnorm-zero-groups", IMAGES + "  - type: groupnorm\n    groups: 0\n", 5, 13,
        "groups is 0; it must be at least 1"),
    Bad("groupnorm-fractional-groups", IMAGES + "  - type: groupnorm\n    groups: 2.5\n", 5, 13,
        "groups must be a whole number, not a number `2.5`"),
    Bad("groupnorm-one-value-per-group",
        "title: x\ninput: {random: {shape: [2, 4]}}\nlayers:\n  - type: groupnorm\n    groups: 4\n", 5, 13,
        "groupnorm with 4 groups over input (2, 4) has one value per group: its variance is 0, so every output "
        "would be beta; use fewer groups"),
    Bad("groupnorm-on-a-vector", "title: x\ninput: {array: [1, 2, 3]}\nlayers:\n  - type: groupnorm\n    groups: 1\n",
        4, 5, "a groupnorm layer takes an (N, C, ...) batch: samples, channels, then any positions, but its input "
        "has shape (3)"),
    Bad("groupnorm-gamma-shape", IMAGES + "  - type: groupnorm\n    groups: 2\n    gamma: [1, 2]\n", 6, 12,
        "gamma has shape (2), but there are 4 channels: give one number or a list of 4"),
    Bad("groupnorm-beta-shape", IMAGES + "  - type: groupnorm\n    groups: 2\n    beta: [[0, 0, 0, 0]]\n", 6, 11,
        "beta has shape (1, 4), but there are 4 channels: give one number or a list of 4"),
    Bad("groupnorm-eps-negative", IMAGES + "  - type: groupnorm\n    groups: 2\n    eps: -1e-5\n", 6, 10,
        "eps is -1e-05; it must be above 0 (groupnorm's default is 1e-5, as in PyTorch)"),
    # --- instancenorm ---
    Bad("instancenorm-without-positions",
        "title: x\ninput: {random: {shape: [4, 3]}}\nlayers:\n  - type: instancenorm\n", 4, 5,
        "an instancenorm layer takes statistics per sample per channel over its positions: it needs an (N, C, L) "
        "or (N, C, H, W) input, but its input has shape (4, 3), with no positions; for an (N, F) batch use "
        "layernorm or batchnorm"),
    Bad("instancenorm-one-position",
        "title: x\ninput: {random: {shape: [2, 3, 1]}}\nlayers:\n  - type: instancenorm\n", 4, 5,
        "instancenorm over input (2, 3, 1) has one position per channel: its variance is 0, so every output would "
        "be beta; give each channel at least 2 positions"),
    Bad("instancenorm-gamma-shape", IMAGES + "  - type: instancenorm\n    gamma: [1, 1, 1]\n", 5, 12,
        "gamma has shape (3), but there are 4 channels: give one number or a list of 4"),
    Bad("instancenorm-groups", IMAGES + "  - type: instancenorm\n    groups: 2\n", 5, 5,
        "unknown key `groups` in an instancenorm layer: " + known("eps", "gamma", "beta")),
    # --- rmsnorm ---
    Bad("rmsnorm-gamma-shape", "title: x\ninput: {random: {shape: [4, 3]}}\nlayers:\n  - type: rmsnorm\n"
        "    gamma: [1, 2, 3, 4]\n", 5, 12,
        "gamma has shape (4), but there are 3 features in the last axis: give one number or a list of 3"),
    Bad("rmsnorm-has-no-beta", "title: x\ninput: {random: {shape: [4, 3]}}\nlayers:\n  - type: rmsnorm\n"
        "    beta: 0\n", 5, 5,
        "unknown key `beta` in an rmsnorm layer: " + known("eps", "gamma")),
    Bad("rmsnorm-eps-zero", "title: x\ninput: {random: {shape: [4, 3]}}\nlayers:\n  - type: rmsnorm\n"
        "    eps: 0\n", 5, 10, "eps is 0; it must be above 0 (rmsnorm's default is 1e-6)"),
    # --- batchnorm's train and eval ---
    Bad("batchnorm-mode", BATCH + "    mode: test\n", 5, 11, "mode is `test`; it must be one of train, eval"),
    Bad("batchnorm-momentum-above-one", BATCH + "    momentum: 1.5\n", 5, 15,
        "momentum is 1.5; it must be in [0, 1]: the share of this batch's statistics in the running ones "
        "(PyTorch's default is 0.1)"),
    Bad("batchnorm-momentum-negative", BATCH + "    momentum: -0.1\n", 5, 15,
        "momentum is -0.1; it must be in [0, 1]: the share of this batch's statistics in the running ones "
        "(PyTorch's default is 0.1)"),
    Bad("batchnorm-momentum-text", BATCH + "    momentum: \"0.1\"\n", 5, 15,
        "momentum must be a number, not text `0.1`"),
    Bad("batchnorm-running-var-negative", BATCH + "    running_var: [1, -0.5, 2]\n", 5, 22,
        "running_var is -0.5 for feature 2; a variance is never negative: give 0 or more (the default is 1)"),
    Bad("batchnorm-running-var-negative-number", BATCH + "    running_var: -1\n", 5, 18,
        "running_var is -1; a variance is never negative: give 0 or more (the default is 1)"),
    Bad("batchnorm-running-var-negative-channel",
        "title: x\ninput: {random: {shape: [2, 2, 3, 3]}}\nlayers:\n  - type: batchnorm\n    mode: eval\n"
        "    running_var:\n      - 1\n      - -2\n", 8, 9,
        "running_var is -2 for channel 2; a variance is never negative: give 0 or more (the default is 1)"),
    Bad("batchnorm-running-mean-shape", BATCH + "    running_mean: [1, 2]\n", 5, 19,
        "running_mean has shape (2), but there are 3 features: give one number or a list of 3"),
    Bad("batchnorm-running-var-shape", BATCH + "    running_var: [1, 2, 3, 4]\n", 5, 18,
        "running_var has shape (4), but there are 3 features: give one number or a list of 3"),
    Bad("batchnorm-train-on-one-example", "title: x\ninput: {array: [[1, 2, 3]]}\nlayers:\n  - type: batchnorm\n",
        4, 5, "batchnorm in train mode over input (1, 3) has one value per feature: its variance is 0, so every "
        "output would be beta whatever the input; a batch needs at least 2 samples (or `mode: eval`, which uses "
        "running_mean and running_var)"),
    Bad("batchnorm-groups", BATCH + "    groups: 2\n", 5, 5,
        "unknown key `groups` in a batchnorm layer: " + known("eps", "gamma", "beta", "mode", "momentum",
                                                              "running_mean", "running_var")),
    Bad("batchnorm-runing-mean-misspelt", BATCH + "    runing_mean: 0\n", 5, 5,
        "unknown key `runing_mean` in a batchnorm layer: did you mean `running_mean`?"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_norm_file_refused_with_its_whole_message(write_scenario, case):
    path = write_scenario(case.text)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    e = caught.value
    assert (e.line, e.column, e.message) == (case.line, case.col, case.message)


def test_check_refuses_every_bad_norm_file_with_one_located_line_and_exit_2(write_scenario, stepper):
    paths = [write_scenario(case.text, f"{case.id}.yaml") for case in CASES]
    result = stepper("check", *paths)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"{path}:{case.line}:{case.col}: {case.message}"
                                          for path, case in zip(paths, CASES)]


@pytest.mark.parametrize("command", [("run",), ("trace", "--json"), ("export", "--out", "shots")], ids=" ".join)
def test_commands_refuse_a_bad_norm_file_like_check(write_scenario, stepper, tmp_path, command):
    case = next(c for c in CASES if c.id == "groupnorm-groups-not-dividing-channels")
    path = write_scenario(case.text)
    result = stepper(*command, path, cwd=tmp_path)
    assert_refused(result, path, case.line, case.col, case.message)
    assert not (tmp_path / "shots").exists()


@pytest.mark.parametrize("text", [
    "title: x\ninput: {array: [[1, 2, 3]]}\nlayers:\n  - type: batchnorm\n    mode: eval\n",
    BATCH + "    momentum: 0\n    running_var: 0\n",
    BATCH + "    momentum: 1\n    running_mean: [1, 2, 3]\n",
    "title: x\ninput: {random: {shape: [2, 4]}}\nlayers:\n  - type: groupnorm\n    groups: 2\n",
    "title: x\ninput: {random: {shape: [1, 2, 2]}}\nlayers:\n  - type: instancenorm\n    gamma: 2\n    beta: [0, 1]\n",
    "title: x\ninput: {random: {shape: [5]}}\nlayers:\n  - type: rmsnorm\n    gamma: 0.5\n    eps: 1e-3\n",
], ids=["eval-on-one-example", "momentum-0-var-0", "momentum-1", "groupnorm-without-positions",
        "instancenorm-one-sample", "rmsnorm-on-a-vector"])
def test_norm_files_at_the_edges_are_accepted(write_scenario, text):
    assert load(write_scenario(text)).pipeline is not None
