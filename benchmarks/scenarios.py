"""The scenarios the benchmark drives: a bundled lecture, and large convolutions it writes itself."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RNN = ROOT / "scenarios" / "rnn_chinese.yaml"
RNN_STEPS = 20

CONV = """\
title: "benchmark: conv2d over a random 3x{n}x{n} input"
seed: 1
input:
  random: {{shape: [3, {n}, {n}]}}
layers:
  - type: conv2d
    kernel_size: 3
    out_channels: 8
    padding: 1
"""


def conv_steps(n: int) -> int:
    """8 output channels of n x n positions (3x3 kernel, padding 1 keeps the size)."""
    return 8 * n * n


def write_conv(folder: Path, n: int) -> Path:
    """A random 3 x n x n input through conv2d, 8 output channels, 3x3 kernel, padding 1."""
    path = folder / f"conv{n}.yaml"
    path.write_text(CONV.format(n=n))
    return path
