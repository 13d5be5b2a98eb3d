"""Transposed convolution: every input value scatters a kernel-weighted copy of the kernel into the output.

Input value x[c, i, j] adds x[c, i, j] * K[c, o, a, b] to output channel o at row i*s_h + a*d_h and
column j*s_w + b*d_w of the uncropped output, for every kernel tap (a, b); K is (C, O, kh, kw), PyTorch's
layout. The stride spreads the copies apart, and where they overlap the numbers add up. Padding then
cuts p rows and columns from each border of the uncropped output, output_padding gives some back at the
bottom and the right, and each output channel gets its bias: PyTorch's ConvTranspose2d, with
H' = (H-1)s - 2p + d(kh-1) + output_padding + 1.

Steps, per output channel: one per input value (its copy lands), then one per output value (the copies
that landed there, summed, plus the bias).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stepper.engine.conv import Axis, Pair
from stepper.engine.trace import Layer, Param, Step, Trace, frozen

SCATTER = "y[o, i*s+a*d-p, j*s+b*d-p] += x[c,i,j] * K[c,o,a,b]"
GATHER = "y[o,r,q] = (the copies that landed on it) + bias[o]"


def transposed_size(n: int, k: int, s: int, p: int, d: int, op: int) -> int:
    """(n-1)s - 2p + d(k-1) + op + 1, PyTorch's output length of a transposed convolution."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


@dataclass(frozen=True)
class Spread(Axis):
    """One axis of a transposed convolution: a convolution axis's input length n, kernel size k, stride s,
    padding p and dilation d, and the output padding op; where the copies land, what is cut, and the
    output length (named as the size formula names it: H' or W')."""

    op: int = 0

    @property
    def full(self) -> int:
        """The uncropped length: from the first copy's first tap to the last copy's last."""
        return (self.n - 1) * self.s + self.d * (self.k - 1) + 1

    @property
    def out(self) -> int:
        return transposed_size(self.n, self.k, self.s, self.p, self.d, self.op)

    @property
    def canvas(self) -> int:
        """The uncropped length as drawn: the copies' reach, and any output_padding beyond it."""
        return max(self.full, self.p + self.out)

    @property
    def cut_after(self) -> int:
        """Rows (or columns) cropped at the bottom (right): the padding less what output_padding gives back."""
        return self.canvas - self.p - self.out

    def lands(self, i: int) -> tuple[int, ...]:
        """Where input position i's copy lands on the uncropped axis, one place per kernel tap."""
        return tuple(i * self.s + a * self.d for a in range(self.k))

    def sources(self, at: int) -> tuple[tuple[int, int], ...]:
        """(tap, input position) of every copy that lands on uncropped position ``at``."""
        return tuple((a, (at - a * self.d) // self.s) for a in range(self.k)
                     if (at - a * self.d) % self.s == 0 and 0 <= (at - a * self.d) // self.s < self.n)


@dataclass(frozen=True, eq=False)
class ConvTranspose2d(Layer):
    """Transposed convolution of a (C, H, W) input with a (C, O, kh, kw) kernel, plus a bias per output channel."""

    kernel: np.ndarray
    bias: np.ndarray | float = 0.0
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    flat: bool = field(default=False, kw_only=True)  # a (kh, kw) kernel on an (H, W) input: (H', W') out
    seeded: bool = field(default=False, kw_only=True)
    type: str = field(init=False, default="conv_transpose2d")

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", frozen(self.kernel))
        object.__setattr__(self, "bias", frozen(np.broadcast_to(self.bias, self.kernel.shape[1:2])))

    def params(self) -> list[Param]:
        return [Param("K", self.kernel, self.seeded), Param("bias", self.bias, self.seeded)]

    def axes(self, shape: tuple[int, ...]) -> tuple[Spread, Spread]:
        """The rows and the columns of an input of ``shape``, each with its output length."""
        return tuple(Spread(*a) for a in zip(("H'", "W'"), shape[-2:], self.kernel.shape[2:], self.stride,
                                             self.padding, self.dilation, self.output_padding))

    def grid_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        rows, cols = self.axes(shape)
        return (int(self.kernel.shape[1]), rows.out, cols.out)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        o, h, w = self.grid_shape(shape)
        return (h, w) if self.flat and len(shape) == 2 else (o, h, w)

    def step_count(self, shape: tuple[int, ...]) -> int:
        o, h, w = self.grid_shape(shape)
        return o * (int(np.prod(shape)) + h * w)

    def scatter(self, g: np.ndarray) -> np.ndarray:
        """The uncropped (O, rows, cols) sums of every copy, no bias: each input channel's values, tap by
        tap, land all at once on a strided slice."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        c_in, h, w = g.shape
        rows, cols = self.axes(g.shape)
        canvas = np.zeros((self.kernel.shape[1], rows.canvas, cols.canvas))
        for c in range(c_in):
            for a in range(self.kernel.shape[2]):
                for b in range(self.kernel.shape[3]):
                    rows_hit = slice(a * dh, a * dh + (h - 1) * sh + 1, sh)
                    cols_hit = slice(b * dw, b * dw + (w - 1) * sw + 1, sw)
                    canvas[:, rows_hit, cols_hit] += self.kernel[c, :, a, b, None, None] * g[c]
        return canvas

    def crop(self, canvas: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The output (O, H', W'): the uncropped sums less the padding's border, plus the bias."""
        rows, cols = self.axes(shape)
        return canvas[:, rows.p : rows.p + rows.out, cols.p : cols.p + cols.out] + self.bias[:, None, None]

    def shape_out(self, grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return grid[0] if self.flat and len(shape) == 2 else grid

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        g = x[None] if x.ndim == 2 else x
        return self.shape_out(self.crop(self.scatter(g), g.shape), x.shape)

    def trace(self, x: np.ndarray) -> ScatterTrace:
        return ScatterTrace(self, np.asarray(x, dtype=np.float64))


class ScatterTrace(Trace):
    """Per output channel: a step per input value (channel, row, column order), then a step per output
    value (row by row). A coarse unit is one input row, then one output row."""

    layer: ConvTranspose2d

    def __init__(self, layer: ConvTranspose2d, x: np.ndarray) -> None:
        self.g = frozen(x[None] if x.ndim == 2 else x)  # (C, H, W)
        self.rows, self.cols = layer.axes(self.g.shape)
        self.canvas = frozen(layer.scatter(self.g))  # (O, rows, cols): every copy landed, no bias yet
        grid = layer.crop(self.canvas, self.g.shape)
        self.grid_values = frozen(grid)
        self.scatters = self.g.size  # scatter steps per output channel
        self.per_channel = self.scatters + self.rows.out * self.cols.out
        super().__init__(layer, x, layer.shape_out(grid, x.shape), grid.shape[0] * self.per_channel)

    # --- coarse units: C*H input rows, then H' output rows, per output channel ------------------------

    def unit_of(self, k: int) -> int:
        o, m = divmod(k, self.per_channel)
        units = self.g.shape[0] * self.g.shape[1] + self.rows.out
        if m < self.scatters:
            return o * units + m // self.g.shape[2]
        return o * units + self.g.shape[0] * self.g.shape[1] + (m - self.scatters) // self.cols.out

    def unit_start(self, unit: int) -> int:
        in_rows = self.g.shape[0] * self.g.shape[1]
        o, u = divmod(unit, in_rows + self.rows.out)
        if u < in_rows:
            return o * self.per_channel + u * self.g.shape[2]
        return o * self.per_channel + self.scatters + (u - in_rows) * self.cols.out

    # --- the steps -----------------------------------------------------------------------------------

    def step(self, k: int) -> Step:
        o, m = divmod(k, self.per_channel)
        if m < self.scatters:
            return self.scatter_step(k, o, *map(int, np.unravel_index(m, self.g.shape)))
        return self.gather_step(k, o, *divmod(m - self.scatters, self.cols.out))

    def scatter_step(self, k: int, o: int, c: int, i: int, j: int) -> Step:
        """Input value x[c, i, j] lands its copy x * K[c, o] on the uncropped output."""
        x, kernel = self.g[c, i, j], self.layer.kernel[c, o]
        return Step(
            index=k, phase="scatter", unit=self.unit_of(k), formula=SCATTER,
            highlight={"channel": o, "element": (c, i, j), "rows": self.rows.lands(i), "cols": self.cols.lands(j)},
            values={"x": x, "kernel": kernel, "copy": frozen(x * kernel)},
            output=self.output, done=o * self.rows.out * self.cols.out, result="copy",
            note=self.layer.note_for(k),
        )

    def gather_step(self, k: int, o: int, r: int, q: int) -> Step:
        """Output value y[o, r, q]: the copies that landed on its uncropped cell, summed, plus the bias."""
        at = (r + self.rows.p, q + self.cols.p)
        sources = tuple((c, i, j, a, b) for c in range(self.g.shape[0]) for a, i in self.rows.sources(at[0])
                        for b, j in self.cols.sources(at[1]))
        c, i, j, a, b = np.array(sources, dtype=np.intp).reshape(-1, 5).T
        xs, ks = self.g[c, i, j], self.layer.kernel[c, o, a, b]
        return Step(
            index=k, phase="sum + bias", unit=self.unit_of(k), formula=GATHER,
            highlight={"channel": o, "out": (r, q), "at": at, "from": sources},
            values={"xs": frozen(xs), "ks": frozen(ks), "products": frozen(xs * ks),
                    "sum": self.canvas[o, at[0], at[1]], "bias": self.layer.bias[o], "result": self.grid_values[o, r, q]},
            output=self.output, done=o * self.rows.out * self.cols.out + r * self.cols.out + q + 1,
            result="result", note=self.layer.note_for(k),
        )

    def running(self, o: int, n: int, rows: range, cols: range) -> tuple[np.ndarray, np.ndarray]:
        """The uncropped output's ``rows`` x ``cols`` in output channel ``o`` once its first ``n`` input
        values have scattered: the sums so far, and how many copies reached each cell.

        The copies are added in the order ``ConvTranspose2d.scatter`` adds them, so once every value has
        scattered the sums are the uncropped output's, to the last bit; the cost depends on the cells
        asked for, not on ``n``.
        """
        layer = self.layer
        c_in, h, w = self.g.shape
        full_channels, rest = divmod(n, h * w)
        at_r, at_c = np.asarray(rows)[:, None], np.asarray(cols)[None, :]
        total, count = np.zeros((len(rows), len(cols))), np.zeros((len(rows), len(cols)), dtype=int)
        for c in range(min(full_channels + 1, c_in)):
            for a in range(layer.kernel.shape[2]):
                i, off_r = np.divmod(at_r - a * layer.dilation[0], layer.stride[0])
                for b in range(layer.kernel.shape[3]):
                    j, off_c = np.divmod(at_c - b * layer.dilation[1], layer.stride[1])
                    hit = (off_r == 0) & (i >= 0) & (i < h) & (off_c == 0) & (j >= 0) & (j < w)
                    ii, jj = np.where(hit, i, 0), np.where(hit, j, 0)
                    if c == full_channels:
                        hit &= ii * w + jj < rest
                    total += np.where(hit, self.g[c, ii, jj] * layer.kernel[c, o, a, b], 0.0)
                    count += hit
        return total, count
