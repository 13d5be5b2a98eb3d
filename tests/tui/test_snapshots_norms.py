"""The normalisation family's screens as SVG snapshots (pytest-textual-snapshot), at 80x24 and 120x40.

The four-way compare of BatchNorm, LayerNorm, InstanceNorm and GroupNorm at each phase; GroupNorm
and InstanceNorm on their own (every cell a number); RMSNorm beside LayerNorm; BatchNorm in train
mode (running statistics stepping) beside eval mode, a single test example in eval mode, and an
(N, C, H, W) batch in eval mode. Scenarios are the bundled ones, or small files written here.

    uv run pytest tests/tui/test_snapshots_norms.py                    # compare
    uv run pytest tests/tui/test_snapshots_norms.py --snapshot-update  # accept the screens as they are now
"""

from __future__ import annotations

import textwrap

import pytest

from tests.tui.test_snapshots import SCENARIOS, at_step, make_app

SIZES = [(80, 24), (120, 40)]

GROUPNORM = """
    title: "GroupNorm on its own: 2 groups of 2 channels"
    seed: 4
    input:
      random: {shape: [2, 4, 2, 3]}
    layers:
      - type: groupnorm
        groups: 2
        gamma: [1, 1, 2, 2]
        beta: 0.5
    """
INSTANCENORM = """
    title: "InstanceNorm over sequences: (N, C, L) = (3, 2, 5)"
    seed: 6
    input:
      random: {shape: [3, 2, 5], low: -4, high: 4}
    layers:
      - type: instancenorm
    """
BATCHNORM_IMAGES = """
    title: "BatchNorm in eval mode on a batch of images"
    seed: 3
    input:
      random: {shape: [3, 3, 2, 2]}
    layers:
      - type: batchnorm
        mode: eval
        running_mean: [0.1, -0.2, 0.3]
        running_var: [1.5, 0.5, 2]
    """


def written(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return make_app(path)


def size_id(size) -> str:
    return f"{size[0]}x{size[1]}"


# --- the four on one batch ------------------------------------------------------------------------

FAMILY_STAGES = {  # (member stepped, its phase): the others follow at the same stage
    "batchnorm-mean": (0, 0),
    "layernorm-var": (1, 1),
    "instancenorm-normalise": (2, 2),
    "groupnorm-scale": (3, 3),
}


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("stage", list(FAMILY_STAGES))
def test_norm_family_compare_at_the_same_stage(snap_compare, stage, size):
    """Each member lights what its statistic is taken over (the classic figure), the others follow."""
    app = make_app(SCENARIOS / "norm_family.yaml")
    member, phase = FAMILY_STAGES[stage]
    trace = app.pipeline.traces[member]
    k = app.pipeline.start(member) + phase * trace.group_total + 1
    assert snap_compare(app, terminal_size=size, run_before=at_step(k))


# --- GroupNorm and InstanceNorm on their own ------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("step", [5, 9], ids=["var", "normalise"])
def test_norm_groupnorm_alone_numbers_in_blocks(snap_compare, tmp_path, step, size):
    assert snap_compare(written(tmp_path, GROUPNORM, "groupnorm"), terminal_size=size, run_before=at_step(step))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_norm_instancenorm_alone_on_sequences(snap_compare, tmp_path, size):
    app = written(tmp_path, INSTANCENORM, "instancenorm")
    assert snap_compare(app, terminal_size=size, run_before=at_step(len(app.pipeline) - 2))


# --- RMSNorm beside LayerNorm ---------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("phase", [1, 2], ids=["rms", "normalise"])
def test_norm_rmsnorm_beside_layernorm(snap_compare, phase, size):
    """RMSNorm stepped: its mean of squares and rms beside LayerNorm's mean and variance, then x / rms."""
    app = make_app(SCENARIOS / "rmsnorm_vs_layernorm.yaml")
    k = app.pipeline.start(1) + phase * app.pipeline.traces[1].group_total
    assert snap_compare(app, terminal_size=size, run_before=at_step(k))


# --- BatchNorm in train and eval ------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("step", [4, 13], ids=["train-running-var", "eval-mean"])
def test_norm_batchnorm_train_beside_eval(snap_compare, step, size):
    """Train: r var steps toward the batch's (unbiased) variance. Eval: the running mean is used."""
    assert snap_compare(make_app(SCENARIOS / "batchnorm_train_eval.yaml"), terminal_size=size,
                        run_before=at_step(step))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_norm_batchnorm_one_example_has_no_variance_of_its_own(snap_compare, size):
    """A single example in eval mode: its own variance (b var) is 0 for every feature."""
    assert snap_compare(make_app(SCENARIOS / "batchnorm_one_example.yaml"), terminal_size=size,
                        run_before=at_step(4))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_norm_batchnorm_eval_on_images(snap_compare, tmp_path, size):
    assert snap_compare(written(tmp_path, BATCHNORM_IMAGES, "batchnorm_images"), terminal_size=size,
                        run_before=at_step(4))
