"""Bad `breakpoints:`, `ask:` and `tolerance:` keys: refused as `FILE:LINE:COL: message`, exit 2.

A condition's error points into the condition: at the bad token's column when each character of the
condition is one column of the file (a plain or quoted scalar on one line), else at its first
character. Most cases are read in-process (`load`); the hostile ones also go through the real
`stepper check`, which must answer at once, with no traceback.
"""

from __future__ import annotations

import textwrap

import pytest

from stepper.scenario import ScenarioError, load
from tests.test_scenario_errors import assert_refused

RNN = """
    title: x
    input:
      text: "abcd"
      embed: 3
    layers:
      - type: rnn
        hidden: 2
"""


def rnn_with(lines: str) -> str:
    """The little RNN above, with these lines added to its layer from line 8 on (4 time steps, 16 steps)."""
    return textwrap.dedent(RNN) + textwrap.indent(textwrap.dedent(lines).strip("\n"), "    ") + "\n"


def refused(write_scenario, text: str) -> ScenarioError:
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as e:
        load(path)
    return e.value


@pytest.mark.parametrize("lines, line, col, words", [
    ("breakpoints: 3", 8, 18, ("breakpoints is a list of step numbers (from 1) and conditions",)),
    ("breakpoints: [0]", 8, 19, ("a step number is 0; it must be at least 1",)),
    ("breakpoints: [17]", 8, 19, ("step 17 is past the end of this layer: its steps are numbered 1 to 16",)),
    ("breakpoints: [2.5]", 8, 19, ("each item of breakpoints is a step number (from 1) or `{when: EXPR}`",)),
    ("breakpoints: [{if: t == 2}]", 8, 20, ("unknown key `if` in an item of breakpoints", "known keys: when")),
    ("breakpoints: [{}]", 8, 19, ("an item of breakpoints needs `when`",)),
    ("breakpoints:\n  - when: [t]", 9, 15, ("when must be text",)),
    ("ask: [3, 99]", 8, 14, ("step 99 is past the end of this layer",)),
    ("ask: {when: t == 2}", 8, 10, ("ask is a list of step numbers",)),
])
def test_a_bad_list_is_refused_at_its_item(write_scenario, lines, line, col, words):
    error = refused(write_scenario, rnn_with(lines))
    assert (error.line, error.column) == (line, col), str(error)
    for word in words:
        assert word in error.message, error.message


# Columns: `    breakpoints:` is line 8; an item `      - when: ...` is line 9, its value at column 15.
@pytest.mark.parametrize("condition, col, words", [
    ("h_t > 0.9 and hidden > 1", 29, ("unknown name `hidden`: the steps of an rnn layer carry step, t, x_t, "
                                      "h_prev, xU, hW, b, a_t, h_t",)),
    ("__import__ == 1", 15, ("unknown name `__import__`",)),
    ("max(h_t).real > 0", 23, ("attribute access is not part of a condition",)),
    ("max(h_t) > 'a'", 26, ("a condition holds no text",)),
    ("t = 3", 17, ("write == to compare",)),
    ("abs(max(h_t) > 0.9", 33, ("`abs(` is not closed: expected `)`, found the end",)),
    ("h_t > 0.9", 15, ("this gives 2 numbers, not one truth value", "max(h_t) > 0.9")),
    ("x_t + h_t > 0", 19, ("`+` between 3 numbers and 2 numbers: vectors must be the same size",)),
    ("10 ** 10 ** 10 > t", 15, ("not a finite number",)),
    ("exp(t) > 1", 15, ("`exp(...)`: stepper's functions are abs, max, min, mean, sum",)),
])
def test_a_bad_condition_is_refused_at_its_token(write_scenario, condition, col, words):
    error = refused(write_scenario, rnn_with(f"breakpoints:\n  - when: {condition}"))
    assert (error.line, error.column) == (9, col), str(error)
    for word in words:
        assert word in error.message, error.message


def test_a_quoted_condition_counts_columns_inside_the_quotes(write_scenario):
    error = refused(write_scenario, rnn_with('breakpoints: [{when: "t == 3 and nope"}]'))
    assert (error.line, error.column) == (8, 38) and "unknown name `nope`" in error.message


def test_a_condition_over_several_lines_points_at_its_start(write_scenario):
    error = refused(write_scenario, rnn_with("breakpoints:\n  - when: >-\n      t == 3\n      and nope"))
    assert (error.line, error.column) == (9, 15) and "unknown name `nope`" in error.message


def test_conditions_of_ask_are_checked_like_breakpoints(write_scenario):
    error = refused(write_scenario, rnn_with("ask: [{when: nope > 0}]"))
    assert (error.line, error.column) == (8, 18) and "unknown name `nope`" in error.message


def test_names_are_those_of_the_layer_type(write_scenario):
    """A convolution's steps carry its window, products, sum and place: not an RNN's names."""
    text = """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
        layers:
          - type: conv2d
            kernel: [[1, 0], [0, 1]]
            breakpoints: [{when: h_t > 0}]
        """
    error = refused(write_scenario, textwrap.dedent(text))
    assert error.message.startswith("unknown name `h_t`: the steps of a conv2d layer carry step, o, i, j, window, "
                                    "kernel, products, sum, bias, result")


@pytest.mark.parametrize("where, value, line, col, words", [
    ("top", "tolerance: -0.1", 2, 12, ("tolerance is -0.1; a relative error is from 0 to 1",)),
    ("top", "tolerance: five", 2, 12, ("tolerance is a relative error such as 0.05",)),
    ("top", "tolerance: {relative: 2}", 2, 23, ("relative is 2; a relative error is from 0 to 1",)),
    ("top", "tolerance: {absolute: -1}", 2, 23, ("absolute is -1; it must be 0 or more",)),
    ("top", "tolerance: {relativ: 0.1}", 2, 13, ("unknown key `relativ` in tolerance: did you mean `relative`?",)),
    ("layer", "tolerance: [0.1]", 8, 16, ("tolerance is a relative error",)),
])
def test_a_bad_tolerance_is_refused(write_scenario, where, value, line, col, words):
    if where == "top":
        text = textwrap.dedent(RNN).replace("title: x\n", f"title: x\n{value}\n", 1)
    else:
        text = rnn_with(value)
    error = refused(write_scenario, text)
    assert (error.line, error.column) == (line, col), str(error)
    for word in words:
        assert word in error.message, error.message


# --- through the real command line: exit 2, one line, at once ------------------------------------------


@pytest.mark.parametrize("condition, col, words", [
    ("__import__('os').system('echo hacked')", 26, ("a condition holds no text",)),
    ("(" * 10_000 + "t" + ")" * 10_000, 515, ("the condition is 20,001 characters long; stepper's limit is 500",)),
    ("(" * 40 + "t" + ")" * 40, 47, ("the condition nests more than 32 deep",)),
    ("9 ** 9 ** 9 ** 9 > t", 15, ("not a finite number",)),
    ("t " + "+ t " * 200, 515, ("stepper's limit is 500",)),
])
def test_hostile_conditions_exit_2_with_one_line(write_scenario, stepper, condition, col, words):
    path = write_scenario(rnn_with(f"breakpoints:\n  - when: {condition}"))
    assert_refused(stepper("check", path), path, 9, col, *words)
    assert "hacked" not in stepper("trace", path, "--json").stdout
