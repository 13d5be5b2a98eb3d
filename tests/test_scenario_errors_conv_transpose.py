"""Bad conv_transpose2d layers: every key refused with one line `FILE:LINE:COL: message` on stderr and exit 2.

Written like tests/test_scenario_errors.py (whose helpers these cases use): each case is a small file
given to the real command line; the line and column point at the offending node, and the message says
what is wrong and what would be right.
"""

from __future__ import annotations

import pytest

from tests.test_scenario_errors import CHEAP, Bad, assert_refused, check_cases

TWO_BY_TWO = "input: {array: [[1, 2], [3, 4]]}"

CASES = [
    # the input and the kernel
    Bad("input-1d", """
        title: x
        input: {array: [1, 2, 3]}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
        """, 4, 5, ("conv_transpose2d layer takes an (H, W) image or a (C, H, W) stack", "has shape (3)")),
    Bad("no-kernel", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            stride: 2
        """, 4, 5, ("needs exactly one of `kernel` (the weights) or `kernel_size`",)),
    Bad("kernel-and-kernel-size", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[1]]
            kernel_size: 2
        """, 4, 5, ("needs exactly one of `kernel`",)),
    Bad("kernel-3d", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[[1, 2]]]
        """, 5, 13, ("kernel has shape (1, 1, 2)", "a conv_transpose2d kernel is (kh, kw) or (1, O, kh, kw)",
                     "PyTorch's layout")),
    Bad("kernel-2d-on-channels", """
        title: x
        input: {random: {shape: [2, 3, 3]}}
        layers:
          - type: conv_transpose2d
            kernel: [[1, 2], [3, 4]]
        """, 5, 13, ("kernel has shape (2, 2), but the input has 2 channels", "give a 4-D kernel (2, O, kh, kw)",
                     "input channels first")),
    Bad("kernel-in-conv2d-order", """
        title: x
        input: {random: {shape: [2, 3, 3]}}
        layers:
          - type: conv_transpose2d
            kernel: [[[[1]], [[2]]], [[[3]], [[4]]], [[[5]], [[6]]]]
        """, 5, 13, ("kernel has shape (3, 2, 1, 1), but the input has 2 channel(s)",
                     "this is conv2d's (O, C, kh, kw) order", "kernel is (2, 3, kh, kw)")),
    Bad("kernel-ragged", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[1, 2], [3]]
        """, 5, 22, ("kernel is ragged", "every row must have the same length")),
    Bad("kernel-size-zero", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: [2, 0]
        """, 5, 22, ("kernel_size is 0", "at least 1")),
    Bad("kernel-size-triple", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: [2, 2, 2]
        """, 5, 18, ("kernel_size must be one whole number or a pair [h, w]", "not 3 numbers")),
    # out_channels and bias
    Bad("out-channels-with-kernel", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[1, 1], [1, 1]]
            out_channels: 2
        """, 6, 19, ("out_channels goes with kernel_size", "the kernel's second size, (C, O, kh, kw)")),
    Bad("out-channels-zero", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            out_channels: 0
        """, 6, 19, ("out_channels is 0", "at least 1")),
    Bad("out-channels-over-limit", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            out_channels: 5000
        """, 6, 19, ("out_channels is 5,000", "limit is 4,096")),
    Bad("bias-length", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            out_channels: 3
            bias: [1, 2]
        """, 7, 11, ("bias has shape (2), but there are 3 output channels", "a list of 3")),
    Bad("bias-text", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            bias: zero
        """, 6, 11, ("bias must be a number", "text `zero`")),
    # stride, padding, output_padding, dilation
    Bad("stride-zero", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            stride: [2, 0]
        """, 6, 17, ("stride is 0", "at least 1")),
    Bad("padding-negative", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            padding: -1
        """, 6, 14, ("padding is -1", "at least 0")),
    Bad("output-padding-negative", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            output_padding: -1
        """, 6, 21, ("output_padding is -1", "at least 0")),
    Bad("output-padding-not-whole", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 3
            stride: 2
            output_padding: 0.5
        """, 7, 21, ("output_padding must be a whole number",)),
    Bad("dilation-zero", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            dilation: 0
        """, 6, 15, ("dilation is 0", "at least 1")),
    Bad("output-padding-not-below-stride", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 3
            stride: 2
            output_padding: 2
        """, 7, 21, ("output_padding is 2, but it must be smaller than the stride (2) or the dilation (1)",
                     "as in PyTorch: use at most 1")),
    Bad("output-padding-without-stride", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 3
            output_padding: [0, 1]
        """, 6, 21, ("output_padding is 1", "smaller than the stride (1) or the dilation (1)", "use at most 0")),
    Bad("padding-crops-everything", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[1, 1], [1, 1]]
            padding: [1, 2]
        """, 6, 14, ("padding 2 crops the whole output", "the copies cover 3 columns", "W' = -1",
                     "use padding at most 1")),
    # keys, notes and limits
    Bad("misspelt-key", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            output_paddings: 1
        """, 6, 5, ("unknown key `output_paddings` in a conv_transpose2d layer", "did you mean `output_padding`?")),
    Bad("step-note-past-the-end", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel_size: 2
            step_notes:
              13: too late
        """, 7, 7, ("step 13 is past the end of this conv_transpose2d layer", "numbered 0 to 12")),
]

LIMITS = [
    Bad("uncropped-output-huge", f"""
        title: x
        {TWO_BY_TWO}
        layers:
          - type: conv_transpose2d
            kernel: [[1]]
            stride: 100000
        """, 6, 13, ("the uncropped output would have shape (1, 100001, 100001)", "limit of 4,194,304 per array")),
    Bad("steps-over-limit", """
        title: x
        input: {random: {shape: [64, 100, 100]}}
        layers:
          - type: conv_transpose2d
            kernel_size: 5
            out_channels: 64
        """, 4, 5, ("41,652,224 steps", "limit of 10,000,000")),
    Bad("work-over-limit", """
        title: x
        input: {random: {shape: [64, 30, 30]}}
        layers:
          - type: conv_transpose2d
            kernel_size: 9
            out_channels: 64
        """, 4, 5, ("298,598,400 multiply-adds", "limit of 200,000,000", "kernels smaller")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_refuses_bad_conv_transpose2d_keys(write_scenario, stepper, case):
    check_cases(write_scenario, stepper, case)


@pytest.mark.parametrize("case", LIMITS, ids=lambda c: c.id)
def test_check_refuses_oversized_conv_transpose2d_cheaply(write_scenario, stepper, case):
    path = write_scenario(case.text)
    result = stepper("check", path, timeout=60)
    assert_refused(result, path, case.line, case.col, *case.words)
    assert result.maxrss < CHEAP, f"refusing took {result.maxrss / 2**20:.0f} MB"


@pytest.mark.parametrize("command", [("trace", "--json"), ("run",), ("export", "--out")], ids=" ".join)
def test_commands_refuse_a_bad_conv_transpose2d_like_check(write_scenario, stepper, tmp_path, command):
    case = next(c for c in CASES if c.id == "output-padding-not-below-stride")
    path = write_scenario(case.text)
    out = (str(tmp_path / "shots"),) if command[0] == "export" else ()
    result = stepper(*command, *out, path)
    assert_refused(result, path, case.line, case.col, *case.words)
    assert not (tmp_path / "shots").exists()
