"""A scenario's layers run one after another, as one trace with a global step number.

A stage is one layer, or a compare group: several layers given the same input side by side (the
first member's output goes on to the next stage). Layers are numbered flat, compare members included.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from stepper.engine.trace import Layer, Offsets, Step, Trace, frozen


@dataclass(frozen=True)
class Position:
    """Where global step ``index`` falls: layer ``layer``, its local step ``local``."""

    index: int
    layer: int
    local: int


class Pipeline:
    """Every layer's trace over one input, computed once; steps are built on demand."""

    def __init__(self, x: np.ndarray, stages: Sequence[Sequence[Layer]], labels: Sequence[str] = ()) -> None:
        self.input = frozen(x)
        self.stages = [tuple(s) for s in stages]
        self.layers: list[Layer] = [layer for stage in self.stages for layer in stage]
        self.group: list[int | None] = []  # compare-group number of each layer, None outside groups
        self.labels: list[tuple[str, ...]] = []  # row labels (tokens) of each layer's input, where they apply
        self.traces: list[Trace] = []
        current, rows = self.input, tuple(labels)
        for g, stage in enumerate(self.stages):
            stage_input = current
            for layer in stage:
                self.group.append(g if len(stage) > 1 else None)
                self.labels.append(rows if rows and len(rows) == stage_input.shape[0] else ())
                self.traces.append(layer.trace(stage_input))
            current = self.traces[len(self.traces) - len(stage)].output
            rows = rows if stage[0].keeps_rows else ()
        self.offsets = Offsets([len(t) for t in self.traces])

    def __len__(self) -> int:
        return self.offsets.total

    @property
    def output(self) -> np.ndarray:
        return self.traces[len(self.traces) - len(self.stages[-1])].output

    def locate(self, k: int) -> Position:
        i, local = self.offsets.locate(k)
        return Position(k, i, local)

    def start(self, i: int) -> int:
        """Global index of layer ``i``'s first step."""
        return self.offsets.starts[i]

    def step(self, k: int) -> tuple[Position, Step]:
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"step {k} is outside 0..{n - 1}")
        pos = self.locate(k + n if k < 0 else k)
        return pos, self.traces[pos.layer][pos.local]

    def steps(self) -> Iterator[tuple[int, Step]]:
        """(layer, step) for every step, in order: the generator behind `stepper trace`."""
        for i, trace in enumerate(self.traces):
            for step in trace:
                yield i, step

    def members(self, i: int) -> list[int]:
        """The layers shown beside layer ``i``: its compare group, or just itself."""
        g = self.group[i]
        return [i] if g is None else [j for j, gj in enumerate(self.group) if gj == g]

    def with_layer(self, i: int, layer: Layer) -> Pipeline:
        """A new pipeline with layer ``i`` replaced (a fresh dropout sample, eval mode); later layers rerun."""
        stages, n = [], 0
        for stage in self.stages:
            stages.append(tuple(layer if n + j == i else s for j, s in enumerate(stage)))
            n += len(stage)
        return Pipeline(self.input, stages, self.labels[0] if self.labels else ())

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)
