"""Sliding windows: conv2d, conv1d over text, max and average pooling.

All four are one computation seen through a window that moves over a zero-padded (C, H, W) grid:
at output position (i, j) the window covers rows i*s_h + d_h*a - p_h and columns j*s_w + d_w*b - p_w.
Convolution is cross-correlation, as in PyTorch: the kernel is not flipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stepper.engine.trace import Layer, Param, Step, Trace, frozen

Pair = tuple[int, int]
CHUNK = 1 << 21  # numbers copied at once when multiplying windows by the kernel (16 MiB of float64)


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1, PyTorch's output length."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class Axis:
    """One axis of a window's moves: the input length n, window size k, stride s, padding p and
    dilation d, and the output length they give (named as the size formula names it: H', W', T')."""

    name: str
    n: int
    k: int
    s: int
    p: int
    d: int

    @property
    def out(self) -> int:
        return out_size(self.n, self.k, self.s, self.p, self.d)


def init_kernel(rng: np.random.Generator, shape: tuple[int, ...],
                out_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's default for (O, C, kh, kw): weight, then bias, uniform in +-1/sqrt(C*kh*kw).

    PyTorch's fan-in is the product of the sizes after the first, whatever they mean: a transposed
    convolution's (C, O, kh, kw) kernel gets +-1/sqrt(O*kh*kw), and its bias is per ``out_axis`` 1.
    """
    bound = 1.0 / np.sqrt(np.prod(shape[1:]))
    return rng.uniform(-bound, bound, shape), rng.uniform(-bound, bound, shape[out_axis])


@dataclass(frozen=True, eq=False)
class Window(Layer):
    """A window of ``size`` over a (C, H, W) grid, moved by ``stride`` over ``padding``, spread by ``dilation``."""

    size: Pair = (1, 1)
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)

    def axes(self, shape: tuple[int, ...]) -> tuple[Axis, Axis]:
        """The rows and the columns of an input grid of ``shape``, each with its output length."""
        return tuple(Axis(*a) for a in zip(("H'", "W'"), shape[-2:], self.size, self.stride, self.padding,
                                           self.dilation))

    def moving(self, shape: tuple[int, ...]) -> tuple[Axis, ...]:
        """The axes the window moves along (both, for a 2-D window)."""
        return self.axes(shape)

    def grid_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(channels out, H', W') of the step grid for an input of ``shape``."""
        rows, cols = self.axes(shape)
        return (self.channels_out(shape), rows.out, cols.out)

    def channels_out(self, shape: tuple[int, ...]) -> int:
        return shape[0] if len(shape) == 3 else 1

    def step_count(self, shape: tuple[int, ...]) -> int:
        return int(np.prod(self.grid_shape(shape)))

    def windows(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Every window at once, shape (C, H', W', kh, kw): a strided view of the padded input."""
        (ph, pw), (dh, dw), (sh, sw) = self.padding, self.dilation, self.stride
        xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        span = (dh * (self.size[0] - 1) + 1, dw * (self.size[1] - 1) + 1)
        return sliding_window_view(xp, span, axis=(1, 2))[:, ::sh, ::sw, ::dh, ::dw]

    def positions(self, i: int, j: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Input rows and columns under the window at output (i, j); outside 0..n-1 is padding."""
        rows = tuple(i * self.stride[0] + self.dilation[0] * a - self.padding[0] for a in range(self.size[0]))
        cols = tuple(j * self.stride[1] + self.dilation[1] * b - self.padding[1] for b in range(self.size[1]))
        return rows, cols

    def as_grid(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x[None] if x.ndim == 2 else x

    def grid(self, x: np.ndarray) -> np.ndarray:
        """The (C_out, H', W') result, in step order."""
        raise NotImplementedError

    def shape_out(self, grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return grid[0] if len(shape) == 2 else grid

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        o, h, w = self.grid_shape(shape)
        return (h, w) if len(shape) == 2 else (o, h, w)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.shape_out(self.grid(self.as_grid(x)), x.shape)

    def trace(self, x: np.ndarray) -> WindowTrace:
        return WindowTrace(self, np.asarray(x, dtype=np.float64))

    fill = 0.0  # what the padding holds
    formula = ""  # what each step computes, as the formula bar shows it

    def window_values(self, window: np.ndarray, o: int) -> dict[str, np.ndarray]:
        """The operands and result for output channel ``o`` over one (C, kh, kw) window."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Conv2d(Window):
    """Cross-correlation of a (C, H, W) input with an (O, C, kh, kw) kernel, plus a bias per output channel."""

    kernel: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1, 1)))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(1))
    flat: bool = field(default=False, kw_only=True)  # the kernel was written without channel axes
    seeded: bool = field(default=False, kw_only=True)
    type: str = field(init=False, default="conv2d")
    formula = "y[i,j] = sum(x[window] * K) + bias"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", frozen(self.kernel))
        object.__setattr__(self, "bias", frozen(np.broadcast_to(self.bias, self.kernel.shape[:1])))
        object.__setattr__(self, "size", tuple(self.kernel.shape[2:]))

    def params(self) -> list[Param]:
        return [Param("K", self.kernel, self.seeded), Param("bias", self.bias, self.seeded)]

    def channels_out(self, shape: tuple[int, ...]) -> int:
        return int(self.kernel.shape[0])

    def shape_out(self, grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return grid[0] if self.flat and len(shape) == 2 else grid

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        o, h, w = self.grid_shape(shape)
        return (h, w) if self.flat and len(shape) == 2 else (o, h, w)

    def grid(self, x: np.ndarray) -> np.ndarray:
        windows = self.windows(x)  # (C, H', W', kh, kw), a view; tensordot copies what it multiplies
        c, h, w, kh, kw = windows.shape
        out = np.empty((self.kernel.shape[0], h, w))
        rows = max(1, CHUNK // max(c * w * kh * kw, 1))  # so a block's copy stays small
        for r in range(0, h, rows):
            block = np.tensordot(windows[:, r : r + rows], self.kernel, axes=([0, 3, 4], [1, 2, 3]))
            out[:, r : r + rows] = np.moveaxis(block, -1, 0)
        return out + self.bias[:, None, None]

    def window_values(self, window: np.ndarray, o: int) -> dict[str, np.ndarray]:
        products = window * self.kernel[o]
        total = products.sum()
        return {"window": window, "kernel": self.kernel[o], "products": products,
                "sum": total, "bias": self.bias[o], "result": total + self.bias[o]}


@dataclass(frozen=True, eq=False)
class Conv1d(Conv2d):
    """1-D convolution over a (T, E) sequence: the (k, E) window spans every column and moves down the rows.

    The kernel is held as (O, 1, k, E), one input channel whose rows are the embeddings.
    """

    type: str = field(init=False, default="conv1d")

    def as_grid(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)[None]  # (1, T, E): one channel, E-wide rows

    def shape_out(self, grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        cols = grid[:, :, 0].T  # (T', O)
        return cols[:, 0] if self.flat else cols

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        o, t, _ = self.grid_shape((1, *shape))
        return (t,) if self.flat else (t, o)

    def moving(self, shape: tuple[int, ...]) -> tuple[Axis, ...]:
        """Only the rows: the window spans every column."""
        return (replace(self.axes(shape)[0], name="T'"),)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return int(np.prod(self.grid_shape((1, *shape))))


@dataclass(frozen=True, eq=False)
class Pool2d(Window):
    """Max or average pooling per channel (average counts padding zeros, max never picks padding)."""

    kind: str = "max"
    type: str = field(init=False, default="maxpool2d")

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", f"{self.kind}pool2d")

    @property
    def fill(self) -> float:  # type: ignore[override]
        return -np.inf if self.kind == "max" else 0.0

    @property
    def formula(self) -> str:
        return f"y[i,j] = {self.kind}(x[window])"

    def grid(self, x: np.ndarray) -> np.ndarray:
        w = self.windows(x, self.fill)
        return w.max(axis=(3, 4)) if self.kind == "max" else w.mean(axis=(3, 4))

    def window_values(self, window: np.ndarray, o: int) -> dict[str, np.ndarray]:
        window = window[o]
        if self.kind == "max":
            at = np.unravel_index(int(np.argmax(window)), window.shape)
            return {"window": window, "argmax": np.asarray(at), "result": window[at]}
        return {"window": window, "sum": window.sum(), "count": window.size, "result": window.mean()}


class WindowTrace(Trace):
    """Steps in output-channel, row, column order; a coarse unit is one output row."""

    layer: Window

    def __init__(self, layer: Window, x: np.ndarray) -> None:
        self.g = frozen(layer.as_grid(x))
        self.windows = layer.windows(self.g, layer.fill)  # a strided view: no copy, any window in O(1)
        grid = layer.grid(self.g)
        self.grid_values = frozen(grid)
        super().__init__(layer, x, layer.shape_out(grid, x.shape), grid.size)

    def unit_of(self, k: int) -> int:
        return k // self.grid_values.shape[2]

    def unit_start(self, unit: int) -> int:
        return unit * self.grid_values.shape[2]

    def filled(self, done: int) -> np.ndarray:
        mask = np.zeros(self.grid_values.size, dtype=bool)
        mask[:done] = True
        return self.layer.shape_out(mask.reshape(self.grid_values.shape), self.input.shape)

    def step(self, k: int) -> Step:
        layer = self.layer
        o, i, j = np.unravel_index(k, self.grid_values.shape)
        o, i, j = int(o), int(i), int(j)
        rows, cols = layer.positions(i, j)
        values = {key: frozen(v, dtype=None) for key, v in layer.window_values(self.windows[:, i, j], o).items()}
        return Step(
            index=k,
            phase="window",
            unit=self.unit_of(k),
            formula=layer.formula,
            highlight={"channel": o, "out": (i, j), "rows": rows, "cols": cols},
            values=values,
            output=self.output,
            done=k + 1,
            result="result",
            note=layer.note_for(k),
        )
