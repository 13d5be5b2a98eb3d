"""The command line on valid scenarios: `check` summaries, `trace --json` records, `trace` tables, help and version.

Every scenario is a small file written to tmp_path and run through the real `python -m stepper`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stepper as stepper_package
from stepper.scenario import load

ROOT = Path(__file__).resolve().parent.parent

TEXTBOOK = """
    title: Dropout, the textbook example
    input:
      array: [1, 2, 3, 4, 5, 6]
    layers:
      - type: dropout
        p: 0.5
        mask: [0, 1, 0, 0, 0, 1]
    """

PIPELINE = """
    title: Everything in a row
    seed: 3
    input:
      text: "ab 你ba"
      embed: 4
    layers:
      - type: rnn
        hidden: 3
      - type: layernorm
      - type: dropout
        p: 0.25
      - compare:
          - type: batchnorm
          - type: layernorm
      - type: conv1d
        kernel_size: 2
        out_channels: 2
    """

IMAGE = """
    title: A seeded convolution, then pooling
    seed: 5
    input:
      random: {shape: [2, 8, 8], low: -1, high: 1}
    layers:
      - type: conv2d
        kernel_size: 3
        out_channels: 4
      - type: maxpool2d
        size: 2
      - type: avgpool2d
        size: 2
        stride: 1
        padding: 1
    """


def trace_records(stepper, path: str) -> list[dict]:
    result = stepper("trace", path, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.endswith("\n")
    return [json.loads(line) for line in result.stdout.splitlines()]


def outputs(records: list[dict]) -> list[dict]:
    return [r for r in records if r["event"] == "output"]


# --- check ------------------------------------------------------------------------------------------

def test_check_summarises_an_rnn_over_text(write_scenario, stepper):
    path = write_scenario("""
        title: RNN over 你个扑该!
        seed: 7
        input:
          text: "你个扑该!"
          embed: 256
        layers:
          - type: rnn
            hidden: 128
        """)
    result = stepper("check", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # U (256, 128) + W (128, 128) + b (128,) = 32,768 + 16,384 + 128 = 49,280
    assert result.stdout == f"{path}: RNN over 你个扑该! | text (5, 256) -> rnn (5, 128) | 49,280 parameters, 20 steps\n"


def test_check_summarises_convolution_and_pooling_shapes(write_scenario, stepper):
    path = write_scenario(IMAGE)
    result = stepper("check", path)
    assert result.returncode == 0, result.stderr
    # seeded kernel (4, 2, 3, 3) = 72 weights, plus 4 biases; pooling has no parameters
    assert result.stdout == (f"{path}: A seeded convolution, then pooling | random (2, 8, 8) -> conv2d (4, 6, 6) -> "
                             "maxpool2d (4, 3, 3) -> avgpool2d (4, 4, 4) | 76 parameters, 244 steps\n")


def test_check_summarises_a_compare_group_side_by_side(write_scenario, stepper):
    path = write_scenario("""
        title: Two norms
        input:
          array: [[1, 2, 3], [4, 5, 6], [7, 8, 10], [1, 0, 1]]
        layers:
          - compare:
              - type: batchnorm
              - type: layernorm
          - type: dropout
        """)
    result = stepper("check", path)
    assert result.returncode == 0, result.stderr
    # gamma and beta: 3 + 3 per norm; steps: 4 statistics x 3 features, 4 x 4 samples, 12 elements
    assert result.stdout == (f"{path}: Two norms | array (4, 3) -> compare(batchnorm (4, 3) | layernorm (4, 3)) -> "
                             "dropout (4, 3) | 12 parameters, 40 steps\n")


def test_check_prints_one_line_per_file_in_order(write_scenario, stepper):
    paths = [write_scenario(TEXTBOOK, "a.yaml"), write_scenario(IMAGE, "b.yaml"), write_scenario(PIPELINE, "c.yaml")]
    result = stepper("check", *paths)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == paths
    assert lines[0].endswith("| array (6) -> dropout (6) | 0 parameters, 6 steps")


def test_check_accepts_every_bundled_scenario(stepper):
    paths = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.yaml"))
    assert paths, "the project ships example scenarios"
    result = stepper("check", *paths)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(paths)


def test_check_accepts_every_example_in_the_scenario_docs(tmp_path, stepper):
    doc = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    examples = re.findall(r"^```yaml\n(.*?)^```", doc, flags=re.S | re.M)
    assert len(examples) >= 10
    paths = []
    for i, text in enumerate(examples):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    result = stepper("check", *paths)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(examples)
    # the summary the page shows for its first example is the one stepper prints
    shown = re.search(r"^my_lecture\.yaml: (Dropout on .*)$", doc, flags=re.M)[1]
    assert lines[0] == f"{paths[0]}: {shown}"


# --- trace --json -----------------------------------------------------------------------------------

def test_trace_json_gives_the_textbook_dropout_output(write_scenario, stepper):
    records = trace_records(stepper, write_scenario(TEXTBOOK))
    steps = [r for r in records if r["event"] == "step"]
    assert [(r["layer"], r["type"], r["index"]) for r in steps] == [(0, "dropout", k) for k in range(6)]
    assert records[-1] == {**records[-1], "event": "output", "layer": 0, "type": "dropout", "shape": [6],
                           "output": [0.0, 4.0, 0.0, 0.0, 0.0, 12.0], "mask": [0, 1, 0, 0, 0, 1]}
    assert len(records) == 7


def test_trace_json_obeys_the_contract_for_every_layer(write_scenario, stepper):
    path = write_scenario(PIPELINE)
    records = trace_records(stepper, path)
    scenario = load(path)
    assert {r["event"] for r in records} == {"step", "output"}
    layer, seen = 0, []
    for r in records:  # layers in order; each one's steps 0..n-1, then exactly one output
        assert r["layer"] == layer and r["type"] == scenario.layers[layer].type
        if r["event"] == "step":
            assert r["index"] == len(seen)
            seen.append(r)
            continue
        assert seen, f"layer {layer} has an output but no steps"
        assert r["shape"] == list(np.shape(r["output"])) == list(scenario.info[layer].output_shape)
        assert len(seen) == scenario.info[layer].steps
        layer, seen = layer + 1, []
    assert layer == len(scenario.layers) == 6
    kinds = [r["type"] for r in outputs(records)]
    assert kinds == ["rnn", "layernorm", "dropout", "batchnorm", "layernorm", "conv1d"]
    # the check summary counts the same steps the trace prints
    check = stepper("check", path).stdout
    assert check.rstrip().endswith(f"{len(records) - 6:,} steps")


def test_trace_json_carries_mask_and_statistics(write_scenario, stepper):
    records = outputs(trace_records(stepper, write_scenario(PIPELINE)))
    rnn, layernorm, dropout, batchnorm, layernorm2, conv = records
    assert set(dropout) >= {"mask"} and "mask" not in rnn and "mean" not in dropout
    x = np.array(layernorm["output"])  # the dropout's input
    y = np.array(dropout["output"])
    mask = np.array(dropout["mask"])
    assert set(np.unique(mask)) <= {0, 1}
    np.testing.assert_allclose(y, np.where(mask == 1, x / 0.75, 0.0))
    for norm in (layernorm, batchnorm, layernorm2):
        assert {"mean", "var"} <= set(norm)
    z = np.array(dropout["output"])  # both compare members get the dropout's output
    np.testing.assert_allclose(batchnorm["mean"], z.mean(axis=0))
    np.testing.assert_allclose(batchnorm["var"], z.var(axis=0))  # biased variance, across the batch
    np.testing.assert_allclose(layernorm2["mean"], z.mean(axis=1))
    np.testing.assert_allclose(layernorm2["var"], z.var(axis=1))
    assert conv["shape"] == [5, 2]  # conv1d over the first member's output: (6 - 2 + 1, O)


def test_trace_json_computes_an_rnn_with_explicit_weights(write_scenario, stepper):
    path = write_scenario("""
        title: Two steps of an RNN
        input:
          array: [[1, 0], [0.5, -1], [2, 1]]
        layers:
          - type: rnn
            hidden: 2
            weights:
              U: [[0.5, -0.5], [0.25, 1]]
              W: [[1, 0.5], [-0.5, 0.25]]
              b: [0.1, -0.1]
              h0: [0.2, 0.3]
        """)
    records = trace_records(stepper, path)
    x = np.array([[1, 0], [0.5, -1], [2, 1]])
    U, W, b = np.array([[0.5, -0.5], [0.25, 1]]), np.array([[1, 0.5], [-0.5, 0.25]]), np.array([0.1, -0.1])
    h, expected = np.array([0.2, 0.3]), []
    for t in range(3):
        h = np.tanh(x[t] @ U + h @ W + b)
        expected.append(h)
    (out,) = outputs(records)
    np.testing.assert_allclose(out["output"], expected, rtol=1e-12)
    assert len(records) - 1 >= 3  # at least one step per time step


def test_check_summarises_lstm_and_gru_with_their_parameters(write_scenario, stepper):
    path = write_scenario("""
        title: LSTM and GRU over 你个扑该!
        seed: 7
        input:
          text: "你个扑该!"
          embed: 256
        layers:
          - compare:
              - type: lstm
                hidden: 128
              - type: gru
                hidden: 128
        """)
    result = stepper("check", path)
    assert result.returncode == 0, result.stderr
    # LSTM: 4 x (256 x 128 + 128 x 128 + 128) = 197,120; GRU: 3 x 49,280 = 147,840; 8 and 5 steps per character
    assert result.stdout == (f"{path}: LSTM and GRU over 你个扑该! | text (5, 256) -> compare(lstm (5, 128) | "
                             "gru (5, 128)) | 344,960 parameters, 65 steps\n")


def test_trace_json_computes_an_lstm_with_explicit_weights_and_carries_c(write_scenario, stepper):
    path = write_scenario("""
        title: Two steps of a one-unit LSTM
        input:
          array: [[1], [-2]]
        layers:
          - type: lstm
            hidden: 1
            weights:
              U_i: [[1]]
              U_f: [[2]]
              U_g: [[0.5]]
              U_o: [[-1]]
              W_i: [[0.5]]
              W_f: [[0]]
              W_g: [[1]]
              W_o: [[2]]
              b_i: [0]
              b_f: [1]
              b_g: [0]
              b_o: [0.5]
              h0: [0.25]
              c0: [-0.5]
        """)
    records = trace_records(stepper, path)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h, c, hs, cs = 0.25, -0.5, [], []
    for x in (1.0, -2.0):
        i, f, g, o = sig(x + 0.5 * h), sig(2 * x + 1), math.tanh(0.5 * x + h), sig(-x + 2 * h + 0.5)
        c = f * c + i * g
        h = o * math.tanh(c)
        hs.append([h])
        cs.append([c])
    (out,) = outputs(records)
    assert out["type"] == "lstm" and out["shape"] == [2, 1]
    np.testing.assert_allclose(out["output"], hs, rtol=1e-12)
    np.testing.assert_allclose(out["c"], cs, rtol=1e-12)
    steps = [r for r in records if r["event"] == "step"]
    assert [r["phase"] for r in steps[:8]] == ["input gate", "forget gate", "candidate", "output gate", "forget",
                                               "admit", "cell", "hidden"]
    assert steps[1]["values"]["f_t"] == [sig(3.0)] and steps[6]["values"]["c_t"] == cs[0]


def test_trace_json_gru_output_line_carries_no_cell(write_scenario, stepper):
    path = write_scenario("""
        title: A GRU
        input: {random: {shape: [3, 2]}}
        layers:
          - type: gru
            hidden: 2
        """)
    (out,) = outputs(trace_records(stepper, path))
    assert set(out) == {"event", "layer", "type", "shape", "output"} and out["shape"] == [3, 2]


def test_trace_json_cross_correlates_like_pytorch(write_scenario, stepper):
    path = write_scenario("""
        title: An edge kernel with stride, padding and a bias
        input:
          array:
            - [0, 1, 2, 3]
            - [4, 5, 6, 7]
            - [8, 9, 10, 11]
        layers:
          - type: conv2d
            kernel: [[1, 0], [0, -1]]
            bias: 0.5
            padding: 1
            stride: [1, 2]
        """)
    (out,) = outputs(records := trace_records(stepper, path))
    x = np.pad(np.arange(12.0).reshape(3, 4), 1)
    k = np.array([[1, 0], [0, -1]])
    expected = [[(x[i:i + 2, j:j + 2] * k).sum() + 0.5 for j in range(0, 5, 2)] for i in range(4)]
    assert out["shape"] == [4, 3]
    assert out["output"] == expected
    assert len(records) - 1 >= 12  # at least one step per output position


def test_trace_json_keeps_full_float_precision(write_scenario, stepper):
    path = write_scenario(IMAGE)
    records = outputs(trace_records(stepper, path))
    traces = load(path).pipeline.traces
    for record, trace in zip(records, traces, strict=True):
        assert record["output"] == trace.output.tolist()  # exact: floats survive the JSON round trip
    assert any(not float(v).is_integer() for v in np.ravel(records[0]["output"]))


def test_trace_json_draws_seeded_values_as_documented(write_scenario, stepper):
    path = write_scenario("""
        title: Seeded values
        seed: 42
        input:
          text: "aba"
          embed: 3
        layers:
          - type: rnn
            hidden: 4
          - type: dropout
          - type: conv1d
            kernel_size: 2
            out_channels: 2
        """)
    rnn, dropout, conv = outputs(trace_records(stepper, path))
    table = np.random.default_rng([42, 0]).standard_normal((2, 3))  # tokens a, b in order of first use
    x = table[[0, 1, 0]]
    rng = np.random.default_rng([42, 1])
    bound = 1 / math.sqrt(4)
    U, W, b = rng.uniform(-bound, bound, (3, 4)), rng.uniform(-bound, bound, (4, 4)), rng.uniform(-bound, bound, 4)
    h, hs = np.zeros(4), []
    for t in range(3):
        h = np.tanh(x[t] @ U + h @ W + b)
        hs.append(h)
    np.testing.assert_allclose(rnn["output"], hs, rtol=1e-12)
    keep = np.random.default_rng([42, 2]).random((3, 4)) >= 0.5  # p defaults to 0.5
    assert dropout["mask"] == keep.astype(int).tolist()
    rng = np.random.default_rng([42, 3])
    bound = 1 / math.sqrt(1 * 2 * 4)  # PyTorch: 1 / sqrt(fan_in), fan_in = C * k * E
    kernel, bias = rng.uniform(-bound, bound, (2, 1, 2, 4)), rng.uniform(-bound, bound, 2)
    y = np.array(dropout["output"])
    expected = [[(y[t:t + 2] * kernel[o, 0]).sum() + bias[o] for o in range(2)] for t in range(2)]
    np.testing.assert_allclose(conv["output"], expected, rtol=1e-12)


def test_trace_json_seed_changes_every_drawn_value(write_scenario, stepper):
    text = "title: s\nseed: {}\ninput: {{random: {{shape: [3, 4]}}}}\nlayers: [{{type: dropout}}]\n"
    first = outputs(trace_records(stepper, write_scenario(text.format(1), "one.yaml")))[0]
    again = outputs(trace_records(stepper, write_scenario(text.format(1), "again.yaml")))[0]
    other = outputs(trace_records(stepper, write_scenario(text.format(2), "two.yaml")))[0]
    assert first == again
    assert first["output"] != other["output"]


# --- trace without --json ----------------------------------------------------------------------------

def test_trace_prints_a_readable_table(write_scenario, stepper):
    result = stepper("trace", write_scenario(TEXTBOOK))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "Dropout, the textbook example"
    assert "layer 1: dropout (6) -> (6), 0 parameters" in out
    for header in ("step", "phase", "formula", "result"):
        assert header in out
    assert out.count("kept") == 2 and out.count("dropped") == 4
    assert "output (6): [0, 4, 0, 0, 0, 12]" in out
    assert '"event"' not in out


# --- version and help -----------------------------------------------------------------------------------

def test_cli_version_prints_the_package_version(stepper):
    result = stepper("--version")
    assert result.returncode == 0
    assert result.stdout == f"stepper {stepper_package.__version__}\n"


def test_cli_help_lists_every_command(stepper):
    result = stepper("--help")
    assert result.returncode == 0
    for command in ("run", "check", "trace", "export", "serve"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["run", "check", "trace", "export", "serve"])
def test_cli_help_of_each_command_exits_0(stepper, command):
    result = stepper(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: stepper {command}")
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["run", "check", "trace", "export", "serve"])
def test_cli_version_after_each_command_exits_0(stepper, command):
    result = stepper(command, "--version")
    assert result.returncode == 0
    assert result.stdout == f"stepper {stepper_package.__version__}\n"


# --- start-up settings -----------------------------------------------------------------------------

PROBE = """
import gc, os, sys
from stepper.cli import main
code = main(sys.argv[1:])
print(code, gc.isenabled(), os.environ.get("OPENBLAS_NUM_THREADS"), "numpy" in sys.modules, sys.getswitchinterval())
"""


def test_cli_run_on_a_bad_file_leaves_the_collector_running(tmp_path):
    """`run` pauses the cyclic collector for start-up; when it stops before the app, it resumes it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ninput: {array: [1, 2]}\nlayers: []\n")
    result = subprocess.run([sys.executable, "-c", PROBE, "run", str(bad)], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    code, collecting, _, _, interval = result.stdout.splitlines()[-1].split()
    assert (code, collecting) == ("2", "True")
    assert float(interval) == 0.005  # the interpreter's default, as it was
    assert "bad.yaml:" in result.stderr


@pytest.mark.parametrize("setting", [None, "2"])
def test_cli_numpy_starts_without_a_blas_thread_pool_unless_asked(tmp_path, setting):
    """Set before NumPy loads, so it takes effect; a user's own OPENBLAS_NUM_THREADS wins."""
    good = tmp_path / "ok.yaml"
    good.write_text(TEXTBOOK)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if setting:
        env["OPENBLAS_NUM_THREADS"] = setting
    result = subprocess.run([sys.executable, "-c", PROBE, "check", str(good)], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=60)
    assert result.stdout.splitlines()[-1].split()[:4] == ["0", "True", setting or "1", "True"]


def test_trace_table_prints_formulas_and_titles_with_their_brackets(write_scenario, stepper):
    result = stepper("trace", write_scenario("""
        title: "Upsampling [stride 2]"
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: conv_transpose2d
            kernel: [[1, 1], [1, 1]]
            stride: 2
          - type: conv2d
            kernel: [[1]]
        """))
    assert result.returncode == 0, result.stderr
    out = result.stdout.replace("│", " ")
    assert out.splitlines()[0] == "Upsampling [stride 2]"
    assert "y[o, i*s+a*d-p," in out and "y[i,j] = sum(x[window] * K)" in out
