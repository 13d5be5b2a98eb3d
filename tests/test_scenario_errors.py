"""Bad scenario files: every one is refused with one line `FILE:LINE:COL: message` on stderr and exit 2.

Each case is a small file written to tmp_path and given to the real command line. The line (and
the column, where it is meaningful) must point at the offending node, and the message must say what
is wrong and what would be right; there is never a traceback and never anything on stdout.
The size-limit cases also check that refusing costs little memory.
"""

from __future__ import annotations

import random
import re
import tracemalloc
from dataclasses import dataclass

import pytest

import stepper.scenario
import stepper.yamlread
from stepper.scenario import ScenarioError, load

LOCATED = re.compile(r"(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)")
CHEAP = 200 * 1024 * 1024  # peak RSS of a child that refuses a file: NumPy alone is about 40 MB


@dataclass(frozen=True)
class Bad:
    id: str
    text: str | bytes
    line: int
    col: int | None  # None: the column is not meaningful here
    words: tuple[str, ...]  # pieces the message must contain, what is wrong and what would be right


def assert_refused(result, path: str, line: int | None, col: int | None, *words: str) -> str:
    """The contract for a bad file: status 2, nothing on stdout, one located line on stderr. Returns the message."""
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    error = result.stderr.rstrip("\n")
    if line is None:
        assert error.startswith(f"{path}: "), error
        message = error[len(path) + 2:]
    else:
        m = LOCATED.fullmatch(error)
        assert m, error
        assert m["path"] == path
        assert int(m["line"]) == line, error
        if col is not None:
            assert int(m["col"]) == col, error
        message = m["message"]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def check_cases(write_scenario, stepper, case: Bad) -> None:
    path = write_scenario(case.text)
    assert_refused(stepper("check", path), path, case.line, case.col, *case.words)


# --- YAML syntax --------------------------------------------------------------------------------

SYNTAX = [
    Bad("unclosed-bracket", """
        title: x
        input: {array: [1, 2
        layers: [{type: dropout}]
        """, 3, 7, ("YAML syntax error", "starts at line 2, column 16", "brackets")),
    Bad("bad-indentation", """
        title: x
        input:
          array: [1, 2]
         layers:
          - type: dropout
        """, 4, 2, ("YAML syntax error", "indentation")),
    Bad("tab-indentation", "title: x\ninput:\n\tarray: [1, 2]\nlayers: [{type: dropout}]\n",
        3, 1, ("YAML syntax error", "indentation")),
    Bad("undefined-alias", """
        title: x
        input: {array: [1, 2]}
        layers: [{type: dropout, p: *half}]
        """, 3, 29, ("`*half` refers to no anchor", "define `&half`")),
    Bad("duplicate-anchor", """
        title: x
        input: {array: &a [1, 0]}
        layers: [{type: dropout, mask: &a [1, 0]}]
        """, 3, 32, ("anchor `&a` is defined twice", "its own name")),
]


@pytest.mark.parametrize("case", SYNTAX, ids=lambda c: c.id)
def test_check_refuses_yaml_syntax_errors_at_their_line(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- wrong types --------------------------------------------------------------------------------

TYPES = [
    Bad("text-for-number", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            p: half
        """, 5, 8, ("p must be a number", "text `half`")),
    Bad("quoted-number", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            p: "0.5"
        """, 5, 8, ("p must be a number", "text `0.5`")),
    Bad("bool-for-number", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            p: true
        """, 5, 8, ("p must be a number", "true/false")),
    Bad("bool-in-array", """
        title: x
        input:
          array: [1, 2, false, 4]
        layers: [{type: dropout}]
        """, 3, 17, ("input array must be a number", "true/false `false`")),
    Bad("bool-for-integer", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: yes
        """, 5, 13, ("hidden must be a whole number", "true/false `yes`")),
    Bad("float-for-integer", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: 2.5
        """, 5, 13, ("hidden must be a whole number", "2.5")),
    Bad("list-for-mapping", """
        title: x
        input: [1, 2, 3]
        layers: [{type: dropout}]
        """, 2, 8, ("input must be a mapping", "not a list")),
    Bad("list-for-weights", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: 2
            weights: [1, 2]
        """, 6, 14, ("rnn weights must be a mapping", "`key: value`")),
    Bad("mapping-for-layers", """
        title: x
        input: {array: [1, 2]}
        layers:
          type: dropout
        """, 4, 3, ("layers must be a non-empty list", "- type:")),
    Bad("list-for-title", """
        title: [a, b]
        input: {array: [1, 2]}
        layers: [{type: dropout}]
        """, 1, 8, ("title must be text", "not a list")),
    Bad("unknown-type", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: transformer
        """, 4, 11, ("type is `transformer`", "one of rnn, lstm, gru, conv2d, conv1d")),
]


@pytest.mark.parametrize("case", TYPES, ids=lambda c: c.id)
def test_check_refuses_wrong_types_at_the_value(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- unknown, duplicate and missing keys -----------------------------------------------------------

KEYS = [
    Bad("hiden", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hiden: 3
        """, 5, 5, ("unknown key `hiden`", "an rnn layer", "did you mean `hidden`?")),
    Bad("titel", """
        titel: x
        input: {array: [1, 2]}
        layers: [{type: dropout}]
        """, 1, 1, ("unknown key `titel`", "did you mean `title`?")),
    Bad("layer-for-layers", """
        title: x
        input: {array: [1, 2]}
        layer: [{type: dropout}]
        """, 3, 1, ("unknown key `layer`", "did you mean `layers`?")),
    Bad("no-close-match", """
        title: x
        colour: red
        input: {array: [1, 2]}
        layers: [{type: dropout}]
        """, 2, 1, ("unknown key `colour`", "known keys: title, description, seed, input, layers")),
    Bad("duplicate-key", """
        title: x
        input: {array: [1, 2]}
        layers: [{type: dropout}]
        title: y
        """, 4, 1, ("`title` is given twice", "keep one")),
    Bad("missing-title", """
        input: {array: [1, 2]}
        layers: [{type: dropout}]
        """, 1, 1, ("the scenario needs `title`",)),
    Bad("missing-input", """
        title: x
        layers: [{type: dropout}]
        """, 1, 1, ("the scenario needs `input`",)),
    Bad("missing-layers", """
        title: x
        input: {array: [1, 2]}
        """, 1, 1, ("the scenario needs `layers`",)),
    Bad("empty-layers", """
        title: x
        input: {array: [1, 2]}
        layers: []
        """, 3, 9, ("layers must be a non-empty list",)),
    Bad("rnn-without-hidden", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            activation: relu
        """, 4, 5, ("needs `hidden: N`", "hidden: 128")),
    Bad("text-without-embed", """
        title: x
        input:
          text: abc
        layers: [{type: dropout}]
        """, 3, 3, ("text input needs `embed: N`", "embed: 256")),
    Bad("layer-without-type", """
        title: x
        input: {array: [1, 2]}
        layers:
          - p: 0.5
        """, 4, 5, ("needs `type:`", "dropout")),
    Bad("conv-without-kernel", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: conv2d
            stride: 1
        """, 4, 5, ("exactly one of `kernel`", "`kernel_size`")),
    Bad("pool-without-size", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: maxpool2d
        """, 4, 5, ("needs `size:`", "size: 2")),
    Bad("random-without-shape", """
        title: x
        input:
          random: {low: 0, high: 1}
        layers: [{type: dropout}]
        """, 3, 11, ("random input needs `shape`",)),
    Bad("activation-choice", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: 2
            activation: sigmoid
        """, 6, 17, ("activation is `sigmoid`", "tanh, relu")),
]


@pytest.mark.parametrize("case", KEYS, ids=lambda c: c.id)
def test_check_refuses_unknown_and_missing_keys(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- shapes, and weights that do not fit the input ------------------------------------------------

SHAPES = [
    Bad("ragged-rows", """
        title: x
        input:
          array:
            - [1, 2, 3]
            - [4, 5]
        layers: [{type: dropout}]
        """, 5, 7, ("ragged", "has 2 entries", "has 3", "same length")),
    Bad("number-among-rows", """
        title: x
        input:
          array:
            - [1, 2]
            - 3
        layers: [{type: dropout}]
        """, 5, 7, ("rectangular", "expected a list of 2")),
    Bad("empty-array", """
        title: x
        input: {array: []}
        layers: [{type: dropout}]
        """, 2, 16, ("empty list", "at least one number")),
    Bad("five-dimensions", """
        title: x
        input: {array: [[[[[1]]]]]}
        layers: [{type: dropout}]
        """, 2, 16, ("5 dimensions", "1 to 4")),
    Bad("rnn-on-a-vector", """
        title: x
        input: {array: [1, 2, 3]}
        layers:
          - type: rnn
            hidden: 2
        """, 4, 5, ("an rnn layer takes a (T, I) sequence", "shape (3)")),
    Bad("batchnorm-of-one-sample", """
        title: x
        input: {array: [[1, 2, 3]]}
        layers:
          - type: batchnorm
        """, 4, 5, ("one value per feature", "at least 2 samples")),
    Bad("rnn-U-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: rnn
            hidden: 2
            weights:
              U: [[1, 2], [3, 4]]
        """, 7, 10, ("U has shape (2, 2)", "3 features per step", "U must be (3, 2)")),
    Bad("rnn-W-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: rnn
            hidden: 2
            weights:
              W: [[1, 2, 3], [4, 5, 6]]
        """, 7, 10, ("W has shape (2, 3)", "W must be (2, 2)")),
    Bad("conv-kernel-channels", """
        title: x
        input:
          random: {shape: [3, 5, 5]}
        layers:
          - type: conv2d
            kernel: [[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]
        """, 6, 13, ("kernel has shape (1, 2, 2, 2)", "3 channel", "(O, 3, kh, kw)")),
    Bad("conv-2d-kernel-on-channels", """
        title: x
        input:
          random: {shape: [3, 5, 5]}
        layers:
          - type: conv2d
            kernel: [[1, 0], [0, 1]]
        """, 6, 13, ("kernel has shape (2, 2)", "3 channels", "(O, 3, kh, kw)")),
    Bad("conv-bias-length", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: conv2d
            kernel: [[1]]
            bias: [1, 2]
        """, 6, 11, ("bias has shape (2)", "1 output channels", "a list of 1")),
    Bad("conv1d-kernel-width", """
        title: x
        input: {text: hello, embed: 4}
        layers:
          - type: conv1d
            kernel: [[1, 0, 1], [0, 1, 0]]
        """, 5, 13, ("kernel has shape (2, 3)", "4 wide", "(k, 4) or (O, k, 4)")),
    Bad("dropout-mask-shape", """
        title: x
        input: {array: [1, 2, 3, 4]}
        layers:
          - type: dropout
            mask: [1, 0, 1]
        """, 5, 11, ("mask has shape (3)", "input has shape (4)", "one 0 or 1 per element")),
    Bad("dropout-mask-values", """
        title: x
        input: {array: [1, 2, 3]}
        layers:
          - type: dropout
            mask: [1, 0.5, 1]
        """, 5, 11, ("other than 0 and 1", "1 keeps an element")),
    Bad("layernorm-gamma-length", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: layernorm
            gamma: [1, 2]
        """, 5, 12, ("gamma has shape (2)", "3 features", "a list of 3")),
    Bad("batchnorm-beta-length", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: batchnorm
            beta: [0, 0, 0, 0]
        """, 5, 11, ("beta has shape (4)", "3 features", "a list of 3")),
]


# --- gated recurrent layers: lstm and gru ---------------------------------------------------------

GATED = [
    Bad("lstm-gate-weight-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights:
              U_f: [[1, 2], [3, 4]]
        """, 7, 12, ("U_f has shape (2, 2)", "3 features per step and hidden is 2", "U_f must be (3, 2)")),
    Bad("lstm-recurrent-weight-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights:
              W_o: [[1, 2, 3], [4, 5, 6]]
        """, 7, 12, ("W_o has shape (2, 3)", "W_o must be (2, 2)")),
    Bad("lstm-gate-bias-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights: {b_g: [1, 2, 3]}
        """, 6, 20, ("b_g has shape (3)", "b_g must be (2)")),
    Bad("lstm-c0-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights:
              c0: [1]
        """, 7, 11, ("c0 has shape (1)", "c0 must be (2)")),
    Bad("lstm-unknown-gate", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights:
              U_x: [[1, 2], [3, 4], [5, 6]]
        """, 7, 7, ("unknown key `U_x` in lstm weights", "`U_o`")),
    Bad("lstm-one-W-for-every-gate", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            weights:
              W: [[1, 2], [3, 4]]
        """, 7, 7, ("unknown key `W` in lstm weights", "W_i, W_f, W_g, W_o")),
    Bad("lstm-activation", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: lstm
            hidden: 2
            activation: relu
        """, 6, 5, ("unknown key `activation` in an lstm layer", "hidden, weights")),
    Bad("lstm-without-hidden", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: lstm
        """, 4, 5, ("an lstm layer needs `hidden: N`", "hidden: 128")),
    Bad("lstm-weights-as-a-list", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: lstm
            hidden: 2
            weights: [1, 2]
        """, 6, 14, ("lstm weights must be a mapping", "`key: value`")),
    Bad("lstm-gate-weight-over-limit", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: lstm
            hidden: 3000
        """, 5, 13, ("W_i would have shape (3000, 3000)", "over stepper's limit of 4,194,304 per array")),
    Bad("gru-c0", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: gru
            hidden: 2
            weights: {h0: [0, 0], c0: [0, 0]}
        """, 6, 27, ("unknown key `c0` in gru weights", "h0")),
    Bad("gru-update-weight-shape", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: gru
            hidden: 2
            weights:
              U_z: [[1, 2, 3], [4, 5, 6]]
        """, 7, 12, ("U_z has shape (2, 3)", "U_z must be (3, 2)")),
    Bad("gru-on-a-vector", """
        title: x
        input: {array: [1, 2, 3]}
        layers:
          - type: gru
            hidden: 2
        """, 4, 5, ("a gru layer takes a (T, I) sequence", "shape (3)")),
    Bad("gru-step-note-past-the-end", """
        title: x
        input: {array: [[1, 2, 3], [4, 5, 6]]}
        layers:
          - type: gru
            hidden: 2
            step_notes: {10: too late}
        """, 6, 18, ("step 10 is past the end of this gru layer", "0 to 9")),
]


@pytest.mark.parametrize("case", GATED, ids=lambda c: c.id)
def test_check_refuses_bad_gated_recurrent_layers(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


@pytest.mark.parametrize("case", SHAPES, ids=lambda c: c.id)
def test_check_refuses_wrong_shapes_and_weights_that_do_not_fit(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- numbers out of range -------------------------------------------------------------------------

VALUES = [
    Bad("inf-in-array", """
        title: x
        input: {array: [1, .inf, 3]}
        layers: [{type: dropout}]
        """, 2, 20, (".inf", "must be finite")),
    Bad("nan-eps", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: layernorm
            eps: .nan
        """, 5, 10, ("eps is .nan", "must be finite")),
    Bad("minus-inf-gamma", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: layernorm
            gamma: [1, -.inf]
        """, 5, 16, ("-.inf", "must be finite")),
    Bad("overflowing-exponent", """
        title: x
        input: {array: [1, 1e400]}
        layers: [{type: dropout}]
        """, 2, 20, ("1e400", "must be finite")),
    Bad("integer-beyond-floats", "title: x\ninput: {array: [1, " + "9" * 400 + "]}\nlayers: [{type: dropout}]\n",
        2, 20, ("999999999", "...", "must be finite")),
    Bad("integer-beyond-int-parsing", "title: x\nseed: " + "9" * 5000 + "\ninput: {array: [1]}\n"
        "layers: [{type: dropout}]\n", 2, 7, ("seed is 999", "limit is 9,223,372,036,854,775,807")),
    Bad("p-one", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            p: 1
        """, 5, 8, ("p is 1", "in [0, 1)")),
    Bad("p-negative", """
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            p: -0.1
        """, 5, 8, ("p is -0.1", "in [0, 1)")),
    Bad("eps-zero", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: batchnorm
            eps: 0
        """, 5, 10, ("eps is 0", "above 0")),
    Bad("seed-negative", """
        title: x
        seed: -1
        input: {array: [1]}
        layers: [{type: dropout}]
        """, 2, 7, ("seed is -1", "at least 0")),
    Bad("low-above-high", """
        title: x
        input:
          random: {shape: [2, 2], low: 1, high: 0}
        layers: [{type: dropout}]
        """, 3, 11, ("low (1) must be below high (0)",)),
    Bad("output-overflows", """
        title: x
        input: {array: [[1.0e308, 1.0e308], [1.0, 2.0]]}
        layers:
          - type: layernorm
        """, 4, 5, ("layernorm layer's output overflows", "scale the input")),
]


@pytest.mark.parametrize("case", VALUES, ids=lambda c: c.id)
def test_check_refuses_non_finite_and_out_of_range_numbers(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- strides, sizes and windows -------------------------------------------------------------------

GEOMETRY = [
    Bad("stride-zero", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 2
            stride: 0
        """, 6, 13, ("stride is 0", "at least 1")),
    Bad("dilation-negative", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 2
            dilation: [1, -1]
        """, 6, 19, ("dilation is -1", "at least 1")),
    Bad("padding-negative", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 2
            padding: -1
        """, 6, 14, ("padding is -1", "at least 0")),
    Bad("conv1d-stride-zero", """
        title: x
        input: {text: hello, embed: 3}
        layers:
          - type: conv1d
            kernel_size: 2
            stride: 0
        """, 6, 13, ("stride is 0", "at least 1")),
    Bad("kernel-size-zero", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 0
        """, 5, 18, ("kernel_size is 0", "at least 1")),
    Bad("pool-size-zero", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: maxpool2d
            size: 0
        """, 5, 11, ("size is 0", "at least 1")),
    Bad("pool-size-triple", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: avgpool2d
            size: [2, 2, 2]
        """, 5, 11, ("size must be one whole number or a pair [h, w]", "not 3 numbers")),
    Bad("pool-padding-over-half", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: maxpool2d
            size: 2
            padding: 2
        """, 6, 14, ("padding 2 is more than half the window size 2", "at most 1")),
    Bad("kernel-larger-than-input", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 6
        """, 5, 18, ("window spans 6 rows", "padded input has only 5", "smaller kernel")),
    Bad("explicit-kernel-wider-than-input", """
        title: x
        input: {array: [[1, 2], [3, 4], [5, 6]]}
        layers:
          - type: conv2d
            kernel: [[1, 1, 1]]
        """, 5, 13, ("window spans 3 columns", "padded input has only 2", "more padding")),
    Bad("dilated-kernel-larger-than-input", """
        title: x
        input: {random: {shape: [5, 5]}}
        layers:
          - type: conv2d
            kernel_size: 3
            dilation: 3
        """, 5, 18, ("window spans 7 rows (size 3, dilation 3)", "padded input has only 5")),
    Bad("pool-larger-than-input", """
        title: x
        input: {random: {shape: [3, 3]}}
        layers:
          - type: maxpool2d
            size: 4
        """, 5, 11, ("window spans 4 rows", "only 3")),
    Bad("conv1d-window-longer-than-text", """
        title: x
        input: {text: ab, embed: 3}
        layers:
          - type: conv1d
            kernel_size: 3
        """, 5, 18, ("window spans 3 rows", "only 2")),
]


@pytest.mark.parametrize("case", GEOMETRY, ids=lambda c: c.id)
def test_check_refuses_bad_strides_sizes_and_windows(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- the input block ------------------------------------------------------------------------------

INPUTS = [
    Bad("array-and-random", """
        title: x
        input:
          array: [1, 2]
          random: {shape: [2]}
        layers: [{type: dropout}]
        """, 4, 11, ("two input forms at once (array and random)", "exactly one of")),
    Bad("text-and-array", """
        title: x
        input:
          text: abc
          embed: 2
          array: [1, 2]
        layers: [{type: dropout}]
        """, 5, 10, ("two input forms at once (array and text)", "exactly one of")),
    Bad("no-input-form", """
        title: x
        input:
          embed: 4
        layers: [{type: dropout}]
        """, 3, 3, ("no input form", "`array`, `text` (with `embed`) or `random`")),
    Bad("embed-with-array", """
        title: x
        input:
          array: [1, 2]
          embed: 4
        layers: [{type: dropout}]
        """, 4, 10, ("`embed` goes with `text` input", "remove it")),
    Bad("empty-text", """
        title: x
        input: {text: "", embed: 4}
        layers: [{type: dropout}]
        """, 2, 15, ("text is empty", "at least one character")),
]


@pytest.mark.parametrize("case", INPUTS, ids=lambda c: c.id)
def test_check_refuses_zero_or_two_input_forms(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


# --- files that are not a scenario at all ----------------------------------------------------------

def test_check_refuses_non_utf8_bytes_at_the_byte(write_scenario, stepper):
    path = write_scenario("title: Caf\u00e9\ninput: {array: [1]}\nlayers: [{type: dropout}]\n".encode("latin-1"))
    assert_refused(stepper("check", path), path, 1, 11, "byte 0xe9 is not UTF-8", "save the scenario as UTF-8")


def test_check_refuses_binary_garbage_where_it_starts(write_scenario, stepper):
    data = b"title: x\n" + random.Random(7).randbytes(400) + b"\x00\x00"
    path = write_scenario(data)
    with pytest.raises(UnicodeDecodeError) as bad:
        data.decode("utf-8")
    start = bad.value.start  # the first byte that is not UTF-8: the error points there
    line = data.count(b"\n", 0, start) + 1
    col = start - (data.rfind(b"\n", 0, start) + 1) + 1
    assert_refused(stepper("check", path), path, line, col, "is not UTF-8")


def test_check_refuses_nul_bytes_in_utf8_text_as_binary(write_scenario, stepper):
    path = write_scenario(b"title: x\ninput: {array: [1]}\x00\x00\nlayers: [{type: dropout}]\n")
    assert_refused(stepper("check", path), path, 2, 20, "control character U+0000", "binary file")


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"], ids=["empty", "blank"])
def test_check_refuses_an_empty_file(write_scenario, stepper, content):
    path = write_scenario(content)
    assert_refused(stepper("check", path), path, 1, 1, "the file is empty", "title, input and layers")


def test_check_refuses_a_file_of_only_comments(write_scenario, stepper):
    path = write_scenario("# a scenario will go here\n")
    assert_refused(stepper("check", path), path, 1, 1, "holds no scenario", "title, input and layers")


@pytest.mark.parametrize("text, words", [
    ("- title: x\n- input: {array: [1]}\n", ("a scenario is a mapping", "not a list")),
    ("just a sentence\n", ("a scenario is a mapping", "not a single value")),
], ids=["list", "scalar"])
def test_check_refuses_a_top_level_that_is_not_a_mapping(write_scenario, stepper, text, words):
    path = write_scenario(text)
    assert_refused(stepper("check", path), path, 1, 1, *words)


def test_check_refuses_a_missing_file_without_a_position(tmp_path, stepper):
    path = str(tmp_path / "nowhere.yaml")
    assert_refused(stepper("check", path), path, None, None, "no such file", "scenario .yaml file")


def test_check_refuses_a_directory(tmp_path, stepper):
    assert_refused(stepper("check", str(tmp_path)), str(tmp_path), None, None, "not a file")


def test_check_refuses_two_yaml_documents_at_the_second(write_scenario, stepper):
    path = write_scenario("""
        title: x
        input: {array: [1]}
        layers: [{type: dropout}]
        ---
        title: y
        """)
    assert_refused(stepper("check", path), path, 4, 1, "a second YAML document", "exactly one")


def test_check_accepts_one_document_with_explicit_markers(write_scenario, stepper):
    path = write_scenario("---\ntitle: x\ninput: {array: [1]}\nlayers: [{type: dropout}]\n...\n")
    result = stepper("check", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: x | ")


# --- size limits: refused by arithmetic, before anything large is allocated -----------------------------

def alias_bomb() -> str:
    """The "billion laughs": nine levels of anchors, each holding nine aliases of the one before."""
    lines = ["title: x", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines + ["input: {array: *i}", "layers: [{type: dropout}]"]) + "\n"


LIMITS = [
    Bad("huge-random", """
        title: x
        input:
          random: {shape: [100000, 100000]}
        layers: [{type: dropout}]
        """, 3, 19, ("(100000, 100000) = 10,000,000,000 numbers", "limit of 4,194,304 per array")),
    Bad("huge-embedding", """
        title: x
        input: {text: "abcdefghij", embed: 1000000}
        layers: [{type: dropout}]
        """, 2, 36, ("embedding table", "(10, 1000000)", "limit of 4,194,304 per array")),
    Bad("long-text", "title: x\ninput: {text: \"" + "ab " * 2000 + "\", embed: 2}\nlayers: [{type: dropout}]\n",
        2, 15, ("6,000 tokens", "limit of 4,096")),
    Bad("rnn-hidden-over-limit", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: 100000
        """, 5, 13, ("hidden is 100,000", "limit is 4,096")),
    Bad("rnn-recurrent-weights-too-big", """
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hidden: 3000
        """, 5, 13, ("W would have shape (3000, 3000)", "limit of 4,194,304 per array")),
    Bad("conv-steps-over-limit", """
        title: x
        input:
          random: {shape: [2000, 2000]}
        layers:
          - {type: conv2d, kernel: [[1]]}
          - {type: conv2d, kernel: [[1]]}
          - {type: conv2d, kernel: [[1]]}
        """, 7, 5, ("12,000,000 steps", "limit of 10,000,000", "stride larger")),
    Bad("conv-work-over-limit", """
        title: x
        input:
          random: {shape: [64, 100, 100]}
        layers:
          - type: conv2d
            kernel_size: 9
            out_channels: 64
        """, 5, 5, ("multiply-adds", "limit of 200,000,000", "kernels smaller")),
    Bad("conv-padding-huge", """
        title: x
        input: {array: [[1, 2], [3, 4]]}
        layers:
          - type: conv2d
            kernel: [[1]]
            padding: 1000000
            stride: 1000000
        """, 6, 14, ("zero-padded input", "limit of 4,194,304 per array")),
    Bad("scenario-total-over-limit", """
        title: x
        input:
          random: {shape: [2048, 2048]}
        layers:
          - type: layernorm
          - type: layernorm
          - type: layernorm
          - type: layernorm
        """, 8, 5, ("would hold 20,971,520 numbers", "limit of 16,777,216")),
    Bad("too-many-layers", "title: x\ninput: {array: [1]}\nlayers:\n" + "  - type: dropout\n" * 65,
        68, 5, ("more than 64 layers",)),
    Bad("alias-bomb", alias_bomb(), 7, 20, ("more than 300,000 values (aliases expanded)", "limit")),
    Bad("recursive-alias", """
        title: x
        input:
          array: &a [1, *a]
        layers: [{type: dropout}]
        """, 3, 17, ("`*a` is used inside its own anchor `&a`", "repeat forever")),
    Bad("nested-brackets", "title: x\ninput: {array: " + "[" * 10_000 + "]" * 10_000 + "}\nlayers: []\n",
        2, None, ("nesting deeper than 24 levels", "at most 4 dimensions")),
    Bad("nested-mappings", "title: x\ninput: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
        2, 100, ("nesting deeper than 24 levels",)),
    Bad("nested-blocks", "title: x\ninput:\n" + "".join("  " * i + "- \n" for i in range(1, 30)),
        26, 49, ("nesting deeper than 24 levels",)),
    Bad("file-over-byte-limit", "title: x\n" + "# padding\n" * 220_000, 1, 1,
        ("2,200,009 bytes", "stepper's limit of 2,097,152 bytes", "use `random:`")),
]


@pytest.mark.parametrize("case", LIMITS, ids=lambda c: c.id)
def test_check_refuses_oversized_scenarios_cheaply(write_scenario, stepper, case):
    path = write_scenario(case.text)
    result = stepper("check", path, timeout=60)
    assert_refused(result, path, case.line, case.col, *case.words)
    assert result.maxrss < CHEAP, f"refusing took {result.maxrss / 2**20:.0f} MB"


@pytest.mark.parametrize("case", [c for c in LIMITS if c.id in ("huge-random", "alias-bomb", "conv-padding-huge")],
                         ids=lambda c: c.id)
def test_load_refuses_oversized_scenarios_without_allocating(write_scenario, case):
    path = write_scenario(case.text)
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError):
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"refusing allocated {peak / 2**20:.0f} MB"


# --- the other commands refuse the same files the same way -------------------------------------------

@pytest.mark.parametrize("command", [("trace", "--json"), ("trace",), ("run",)], ids=" ".join)
@pytest.mark.parametrize("case", [c for c in KEYS + VALUES + LIMITS if c.id in ("hiden", "minus-inf-gamma",
                                                                                "huge-random")], ids=lambda c: c.id)
def test_commands_refuse_a_bad_file_like_check(write_scenario, stepper, command, case):
    path = write_scenario(case.text)
    expected = stepper("check", path).stderr
    result = stepper(*command, path)
    assert_refused(result, path, case.line, case.col, *case.words)
    assert result.stderr == expected


# --- the in-process API ---------------------------------------------------------------------------

def test_load_raises_scenario_error_with_line_column_and_message(write_scenario):
    path = write_scenario("""
        title: x
        input: {text: abc, embed: 4}
        layers:
          - type: rnn
            hiden: 3
        """)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    e = caught.value
    assert (e.path, e.line, e.column) == (path, 5, 5)
    assert e.message == "unknown key `hiden` in an rnn layer: did you mean `hidden`?"
    assert str(e) == f"{path}:5:5: {e.message}"


def test_load_error_is_the_one_class_everywhere():
    assert stepper.scenario.ScenarioError is stepper.yamlread.ScenarioError
    assert issubclass(ScenarioError, Exception)


def test_load_missing_file_has_no_line(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path / "missing.yaml")
    assert caught.value.line is None and caught.value.column is None
    assert "no such file" in caught.value.message


def test_load_accepts_plain_exponent_numbers(write_scenario):
    # YAML 1.1 reads 1e-5 as text; where a number is expected it is the number
    path = write_scenario("""
        title: x
        input: {array: [[1.5e2, 2E-1], [3, 4]]}
        layers:
          - type: layernorm
            eps: 1e-5
        """)
    scenario = load(path)
    assert scenario.input.tolist() == [[150.0, 0.2], [3.0, 4.0]]
    assert scenario.layers[0].eps == 1e-5


def test_load_rejects_step_notes_past_the_last_step(write_scenario):
    path = write_scenario("""
        title: x
        input: {array: [1, 2]}
        layers:
          - type: dropout
            step_notes:
              0: first
              2: one too far
        """)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert (caught.value.line, caught.value.column) == (7, 7)
    assert "step 2 is past the end of this dropout layer" in caught.value.message
    assert "0 to 1" in caught.value.message


# --- several files, and bad flags -------------------------------------------------------------------

def test_check_reports_good_and_bad_files_separately(write_scenario, stepper):
    good = write_scenario("title: Fine\ninput: {array: [1, 2]}\nlayers: [{type: dropout}]\n", "good.yaml")
    bad = write_scenario("title: Broken\ninput: {array: [1, 2]}\nlayers: [{type: dropout, p: 2}]\n", "bad.yaml")
    for order in ((good, bad), (bad, good)):
        result = stepper("check", *order)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stdout == f"{good}: Fine | array (2) -> dropout (2) | 0 parameters, 2 steps\n"
        assert result.stderr == f"{bad}:3:29: p is 2; it must be in [0, 1): the chance to drop each element\n"


@pytest.mark.parametrize("args, words", [
    (("trace",), ("the following arguments are required: FILE", "stepper trace --help")),
    (("trace", "--json"), ("the following arguments are required: FILE",)),
    (("check",), ("the following arguments are required: FILE",)),
    (("bogus",), ("invalid choice: 'bogus'", "run", "check", "trace")),
    ((), ("the following arguments are required: COMMAND", "stepper --help")),
    (("check", "--bogus", "x.yaml"), ("unrecognized arguments: --bogus",)),
], ids=["trace", "trace-json", "check", "bogus", "nothing", "unknown-flag"])
def test_cli_bad_flags_exit_2_with_one_line(stepper, args, words):
    result = stepper(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("stepper")
    for word in words:
        assert word in result.stderr
