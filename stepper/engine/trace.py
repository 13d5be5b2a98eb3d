"""The shared face of every layer: a frozen step state, an indexable trace and the layer base class.

A trace is computed once with the layer's vectorised pass; step k is built from it on demand, so
reaching step 130,000 costs what reaching step 1 costs, and nothing grows with the steps visited.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


def frozen(array: Any, dtype: Any = np.float64) -> np.ndarray:
    """A read-only copy-free view of ``array`` as a NumPy array (states never change under a view)."""
    out = np.asarray(array, dtype=dtype)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class Step:
    """What a screen needs to draw one step of one layer.

    ``values`` holds the operands and the result of this step (arrays are read-only); ``highlight``
    names the indices the step touches (the token, the kernel window, the reduced axis, the
    element), and ``result`` is the key of this step's result in ``values``; ``done`` says how much of ``output`` is filled in (a count of output elements in the
    layer's own step order, see ``Trace.filled``).
    """

    index: int
    phase: str
    unit: int
    formula: str
    highlight: Mapping[str, Any]
    values: Mapping[str, Any]
    output: np.ndarray
    done: int
    result: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "highlight", MappingProxyType(dict(self.highlight)))
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))


class Trace(Sequence[Step]):
    """An indexable, random-access sequence of steps over one layer's vectorised pass."""

    def __init__(self, layer: Layer, x: np.ndarray, output: np.ndarray, length: int) -> None:
        self.layer = layer
        self.input = frozen(x)
        self.output = frozen(output)
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, k: int) -> Step:  # type: ignore[override]
        if not isinstance(k, (int, np.integer)):
            raise TypeError(f"a trace is indexed by step number, not {type(k).__name__}")
        n = self._length
        k = int(k) + n if k < 0 else int(k)
        if not 0 <= k < n:
            raise IndexError(f"step {k} is outside 0..{n - 1}")
        return self.step(k)

    def __iter__(self) -> Iterator[Step]:
        for k in range(self._length):
            yield self.step(k)

    def step(self, k: int) -> Step:
        raise NotImplementedError

    # Coarse units (a time step, an output row, a statistic) for Shift+Left/Right.
    def unit_of(self, k: int) -> int:
        return self.step(k).unit

    def unit_start(self, unit: int) -> int:
        """First step index of ``unit`` (units are contiguous and numbered from 0)."""
        raise NotImplementedError

    @property
    def units(self) -> int:
        return self.unit_of(self._length - 1) + 1 if self._length else 0

    def filled(self, done: int) -> np.ndarray:
        """A boolean mask over ``output``: which elements are computed after ``done`` of them."""
        mask = np.zeros(self.output.size, dtype=bool)
        mask[:done] = True
        return mask.reshape(self.output.shape)


@dataclass(frozen=True, eq=False)
class Param:
    """One trainable tensor: its symbol in the formula, its values, and where it came from."""

    name: str
    value: np.ndarray
    seeded: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def size(self) -> int:
        return int(self.value.size)


@dataclass(frozen=True, eq=False)
class Layer:
    """Base of every layer: parameters, shapes, ``forward`` and ``steps``/``trace``."""

    keeps_rows = False  # True when output row r belongs to input row r: a token keeps its label

    type: str = field(init=False, default="")
    note: str = field(default="", kw_only=True)
    step_notes: Mapping[int, str] = field(default_factory=dict, kw_only=True)

    def note_for(self, k: int) -> str:
        """The narration for local step ``k``: its own note where the scenario gives one, else the layer's."""
        return self.step_notes.get(k, self.note)

    def params(self) -> list[Param]:
        """Trainable tensors (empty for layers without weights)."""
        return []

    @property
    def param_count(self) -> int:
        return sum(p.size for p in self.params())

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def trace(self, x: np.ndarray) -> Trace:
        raise NotImplementedError

    def steps(self, x: np.ndarray) -> Iterator[Step]:
        """The layer's intermediate states, one frozen ``Step`` at a time."""
        yield from self.trace(x)

    def step_count(self, shape: tuple[int, ...]) -> int:
        """How many steps ``trace`` gives for an input of ``shape`` (without computing anything)."""
        raise NotImplementedError


class Offsets:
    """Maps a global step number over several traces to (trace number, local step)."""

    def __init__(self, lengths: Sequence[int]) -> None:
        self.starts = [0]
        for n in lengths:
            self.starts.append(self.starts[-1] + n)

    @property
    def total(self) -> int:
        return self.starts[-1]

    def locate(self, k: int) -> tuple[int, int]:
        i = bisect_right(self.starts, k) - 1
        i = min(max(i, 0), len(self.starts) - 2)
        return i, k - self.starts[i]
