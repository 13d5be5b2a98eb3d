"""Hiding the number a step computes: the views draw a `?` where it would be, and nothing else changes.

The views draw what a trace and its steps hold, so hiding is done there: the pipeline on screen is
replaced by one whose trace holds not-a-number where the hidden number is, and render.py draws
not-a-number as `?`, in its cells and in the formula. The number is found in the trace's arrays

- by memory: an array that is (a view of) the same memory as the step's value (h_t is a row of the
  RNN's output, so h_3 in the unrolled rows hides too);
- as the output cell the step fills, when the step computes one number (a convolution's y[i,j]);
- by name and value: an array the trace keeps under the value's own name (a norm's `mean`), and any
  array sharing its memory, at the entries equal to it; and, at the step itself, any other single
  number equal to it (a sum that the bias leaves unchanged).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from stepper.engine import Pipeline, Step, Trace


class Hidden(NamedTuple):
    """The number to hide: layer ``layer``'s step ``local`` computes it, as entry ``index`` of
    its value ``key``."""

    layer: int
    local: int
    key: str
    index: int
    value: float
    also: tuple[str, ...] = ()  # the step's other values that would give it away (its Kind's `reveals`)


def address(array: np.ndarray, index: tuple[int, ...]) -> int:
    """Where entry ``index`` of ``array`` is in memory."""
    return array.__array_interface__["data"][0] + sum(i * s for i, s in zip(index, array.strides))


def entry_at(array: np.ndarray, where: int) -> tuple[int, ...] | None:
    """The index of ``array``'s entry at memory address ``where``, or None when it has none there."""
    if array.size == 0 or any(s < 0 for s in array.strides):
        return None
    offset = where - array.__array_interface__["data"][0]
    if offset < 0 or offset % array.itemsize:
        return None
    index = [0] * array.ndim
    for d in sorted(range(array.ndim), key=lambda d: -array.strides[d]):
        stride = array.strides[d]
        if stride == 0:
            continue
        index[d], offset = divmod(offset, stride)
        if index[d] >= array.shape[d]:
            return None
    return tuple(index) if offset == 0 else None


def arrays(trace: Trace) -> list[tuple[str, np.ndarray]]:
    """The float arrays a trace keeps, by name: its attributes, and the entries of its dicts."""
    out = []
    for name, value in vars(trace).items():
        if isinstance(value, np.ndarray):
            out.append((name, value))
        elif isinstance(value, dict):
            out += [(k, v) for k, v in value.items() if isinstance(v, np.ndarray)]
    return [(name, a) for name, a in out if a.dtype.kind == "f"]


class MaskedTrace:
    """A trace as the views read it, with the hidden number not-a-number wherever it is kept."""

    def __init__(self, trace: Trace, hidden: Hidden) -> None:
        self._trace, self._hidden = trace, hidden
        self._cache: dict[str, object] = {}
        step = trace[hidden.local]
        value = np.asarray(step.values[hidden.key])
        self._where = [address(value, np.unravel_index(hidden.index, value.shape))] if value.ndim else []
        if not value.ndim:
            self._where += self.new_cell(step, hidden.value)
        numbers = [(hidden.key, hidden.value)] + [(k, float(step.values[k])) for k in hidden.also
                                                  if k in step.values and np.ndim(step.values[k]) == 0]
        kept = arrays(trace)
        # each number to hide, and the arrays the trace keeps under its name
        self._named = [(key, v, [a for name, a in kept if name == key]) for key, v in numbers]
        self._step = self.mask_step(step, itself=True)

    def new_cell(self, step: Step, value: float) -> list[int]:
        """The address of the one output cell this step fills, when it holds ``value``."""
        trace = self._trace
        before = trace[step.index - 1].done if step.index else 0
        if step.done - before != 1:
            return []
        cells = np.argwhere(trace.filled(step.done) & ~trace.filled(before))
        if len(cells) != 1 or trace.output[tuple(cells[0])] != value:
            return []
        return [address(trace.output, tuple(cells[0]))]

    def mask(self, array: np.ndarray, name: str) -> np.ndarray:
        """``array`` with the hidden number not-a-number: a copy where it appears, else itself."""
        if array.dtype.kind != "f":
            return array
        spots = [i for i in (entry_at(array, w) for w in self._where) if i is not None]
        same = np.zeros(array.shape, dtype=bool)
        for key, value, kept in self._named:
            if name == key or any(np.may_share_memory(array, a) for a in kept):
                same |= array == value
        if not spots and not same.any():
            return array
        out = np.array(array)
        for i in spots:
            out[i] = np.nan
        out[same] = np.nan
        out.flags.writeable = False
        return out

    def mask_step(self, step: Step, itself: bool = False) -> Step:
        values = {}
        for key, v in step.values.items():
            if isinstance(v, np.ndarray) and v.ndim:
                values[key] = self.mask(v, "")
            else:
                values[key] = v
        if itself:
            h = self._hidden
            value = np.array(step.values[h.key], dtype=float)
            value.reshape(-1)[h.index] = np.nan
            values[h.key] = value if value.ndim else np.float64(np.nan)
            for key, v in step.values.items():  # a single number equal to it gives it away
                if key != h.key and np.ndim(v) == 0 and np.asarray(v).dtype.kind == "f" and float(v) == h.value:
                    values[key] = np.float64(np.nan)
            for key in h.also:  # and so do the values its type names
                if key in values and np.asarray(values[key]).dtype.kind in "fiu":
                    values[key] = np.full(np.shape(values[key]), np.nan) if np.ndim(values[key]) else np.float64(np.nan)
        return replace(step, values=values)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._cache:
            value = getattr(self._trace, name)
            if isinstance(value, np.ndarray):
                value = self.mask(value, name)
            elif isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in value.values()):
                value = {k: self.mask(v, k) if isinstance(v, np.ndarray) else v for k, v in value.items()}
            self._cache[name] = value
        return self._cache[name]

    def __len__(self) -> int:
        return len(self._trace)

    def __getitem__(self, k: int) -> Step:
        k = int(k) % len(self._trace)
        return self._step if k == self._hidden.local else self.mask_step(self._trace[k])

    def __iter__(self):
        return (self[k] for k in range(len(self._trace)))


class MaskedPipeline:
    """A pipeline whose one trace hides a number; everything else is the pipeline's own."""

    def __init__(self, pipeline: Pipeline, hidden: Hidden) -> None:
        self._pipeline, self.hidden = pipeline, hidden
        self.traces = list(pipeline.traces)
        self.traces[hidden.layer] = MaskedTrace(pipeline.traces[hidden.layer], hidden)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._pipeline, name)

    def __len__(self) -> int:
        return len(self._pipeline)

    def step(self, k: int):
        pos = self._pipeline.step(k)[0]
        return pos, self.traces[pos.layer][pos.local]

    def steps(self):
        for i, trace in enumerate(self.traces):
            for step in trace:
                yield i, step
