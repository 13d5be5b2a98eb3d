"""Inverted dropout: each element is dropped with probability p; survivors are scaled by 1/(1-p).

One coin per element: draw u uniform in [0, 1); the element is dropped when u < p. In eval mode
dropout is the identity. An explicit ``mask`` (1 keep, 0 drop) replaces the coins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stepper.engine.trace import Layer, Step, Trace, frozen


@dataclass(frozen=True, eq=False)
class Dropout(Layer):
    """Inverted dropout of any input, one coin per element."""

    keeps_rows = True  # the output has the input's shape
    p: float = 0.5
    mode: str = "train"
    seed: int | tuple[int, ...] = 0  # anything numpy.random.default_rng accepts
    mask: np.ndarray | None = None
    type: str = field(init=False, default="dropout")

    @property
    def scale(self) -> float:
        return 1.0 / (1.0 - self.p) if self.mode == "train" else 1.0

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return int(np.prod(shape, dtype=np.int64))

    def draw(self, shape: tuple[int, ...]) -> tuple[np.ndarray | None, np.ndarray]:
        """(u, keep): the coins (None when a mask is given or in eval mode) and the keep mask."""
        if self.mode == "eval":
            return None, np.ones(shape, dtype=bool)
        if self.mask is not None:
            return None, np.asarray(self.mask, dtype=bool)
        u = np.random.default_rng(self.seed).random(shape)
        return u, u >= self.p

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(self.draw(x.shape)[1], x * self.scale, 0.0)

    def trace(self, x: np.ndarray) -> DropoutTrace:
        return DropoutTrace(self, np.asarray(x, dtype=np.float64))

    def resampled(self, seed: int | tuple[int, ...]) -> Dropout:
        """The same layer with fresh coins (an explicit mask gives way to the new draw)."""
        return replace(self, seed=seed, mask=None, step_notes={})  # the notes told of the old coins

    def toggled(self) -> Dropout:
        return replace(self, mode="eval" if self.mode == "train" else "train", step_notes={})


class DropoutTrace(Trace):
    """One step per element in row-major order; a coarse unit is one row of the last axis."""

    layer: Dropout

    def __init__(self, layer: Dropout, x: np.ndarray) -> None:
        u, keep = layer.draw(x.shape)
        self.u = None if u is None else frozen(u)
        self.keep = frozen(keep, dtype=bool)
        super().__init__(layer, x, np.where(keep, x * layer.scale, 0.0), x.size)
        self.row = x.shape[-1] if x.ndim else 1

    def unit_of(self, k: int) -> int:
        return k // self.row

    def unit_start(self, unit: int) -> int:
        return unit * self.row

    def step(self, k: int) -> Step:
        layer = self.layer
        at = tuple(int(i) for i in np.unravel_index(k, self.input.shape))
        kept = bool(self.keep[at])
        values = {"x": self.input[at], "p": np.float64(layer.p), "keep": kept,
                  "scale": np.float64(layer.scale), "y": self.output[at]}
        if self.u is not None:
            values["u"] = self.u[at]
        if layer.mode == "eval":
            formula = "eval: y = x"
        elif kept:
            formula = "kept: y = x / (1 - p)"
        else:
            formula = "dropped: y = 0"
        return Step(index=k, phase="eval" if layer.mode == "eval" else ("keep" if kept else "drop"),
                    unit=self.unit_of(k), formula=formula, highlight={"element": at}, values=values,
                    output=self.output, done=k + 1, result="y", note=layer.note_for(k))
