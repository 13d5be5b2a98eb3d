"""conv_transpose2d through the command line: `check`, and what `trace --json` lines and conditions carry.

A scatter step is where the screen's x[c,i,j] is (with its output channel o), an output step where
y[o,r,q] is; `x` is one number at every step that has it, the output step's lists are `xs`, `ks` and
`products`.
"""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import ROOT

SCENARIO = str(ROOT / "scenarios" / "conv_transpose_upsample.yaml")
BILINEAR = [[4, 6, 8, 4, 0, 0], [6, 6, 6, 3, 0, 0], [8, 6, 4, 2, 0, 0],
            [4, 3, 2, 2, 2, 1], [0, 0, 0, 2, 4, 2], [0, 0, 0, 1, 2, 1]]


def records(stepper, path: str) -> list[dict]:
    result = stepper("trace", "--json", path)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_check_reports_the_bundled_scenarios_shapes_and_parameters(stepper):
    result = stepper("check", SCENARIO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"{SCENARIO}: Transposed convolution: a 3x3 input scattered into a 6x6 output "
                             "(stride 2) | array (3, 3) -> conv_transpose2d (6, 6) | 10 parameters, 45 steps\n")


def test_trace_json_scatters_then_sums_with_the_screens_names(stepper):
    lines = records(stepper, SCENARIO)
    steps, (output,) = lines[:-1], lines[-1:]
    assert len(steps) == 9 + 36 and output["event"] == "output" and output["shape"] == [6, 6]
    assert output["output"] == BILINEAR
    fifth = steps[4]  # x[1,1] = 4 lands 4 x K on the uncropped rows and columns 2..4
    assert (fifth["o"], fifth["c"], fifth["i"], fifth["j"], fifth["phase"]) == (0, 0, 1, 1, "scatter")
    assert fifth["values"]["x"] == 4 and fifth["values"]["copy"][1] == [2, 4, 2]
    assert fifth["highlight"]["rows"] == [2, 3, 4] and fifth["result"] == "copy"
    between = steps[9 + 1]  # y[0,1]: half of x[0,1] and half of x[0,0]
    assert (between["o"], between["r"], between["q"], between["phase"]) == (0, 0, 1, "sum + bias")
    assert between["values"]["xs"] == [8, 4] and between["values"]["ks"] == [0.5, 0.5]
    assert between["values"]["products"] == [4, 2] and between["values"]["result"] == 6
    assert between["highlight"]["from"] == [[0, 0, 1, 1, 0], [0, 0, 0, 1, 2]]  # (c, i, j, a, b)
    assert [s["values"]["result"] for s in steps[9:]] == list(np.ravel(BILINEAR))


def test_breakpoints_read_the_input_value_and_the_output_place(write_scenario, stepper):
    text = open(SCENARIO, encoding="utf-8").read().replace("    notes: |", """    breakpoints:
      - when: x > 4
      - when: r == q and r > 3
    notes: |""", 1)
    steps = [r for r in records(stepper, write_scenario(text)) if r["event"] == "step"]
    fired = [(s["phase"], s.get("i", s.get("r")), s.get("j", s.get("q"))) for s in steps if s.get("break")]
    assert fired == [("scatter", 0, 1), ("scatter", 1, 0), ("sum + bias", 4, 4), ("sum + bias", 5, 5)]


def test_a_condition_on_a_name_no_step_carries_lists_the_names(write_scenario, stepper):
    text = open(SCENARIO, encoding="utf-8").read().replace("    notes: |", """    breakpoints:
      - when: y > 1
    notes: |""", 1)
    result = stepper("check", write_scenario(text))
    assert result.returncode == 2
    assert ("unknown name `y`: the steps of a conv_transpose2d layer carry step, o, c, i, j, x, kernel, copy, "
            "r, q, xs, ks, products, sum, bias, result") in result.stderr
