"""Breakpoints: the steps a layer's `breakpoints:` names, by number or by a condition, and where they fire.

A list of step numbers (counted from 1 within the layer, as the screen counts them) and `{when: EXPR}`
items is read into `Marks`; the same list form names the questions of `ask:` (stepper.quiz). A
condition is read by stepper.expr over the step's names: `step`, where the step is (`t` for a time
step...) and the values its `trace --json` line carries. Conditions are evaluated only when a step is
asked about, and each answer is remembered: a 130,000-step convolution costs nothing at load.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import yaml

from stepper import expr
from stepper.yamlread import Reader, ScenarioError

if TYPE_CHECKING:
    from stepper.engine import Pipeline, Step, Trace
    from stepper.layers import Kind

SAMPLED = 64  # steps (and units) whose names make up what a layer's conditions may read


@dataclass(frozen=True)
class Spot:
    """Where a condition is written: the line and column of its first character. ``exact`` when each
    character of the condition is one column of the file (a plain or quoted scalar on one line)."""

    line: int
    column: int
    exact: bool

    def at(self, offset: int) -> tuple[int, int]:
        return self.line, self.column + (offset if self.exact else 0)


@dataclass(frozen=True)
class Condition:
    """`when: EXPR`, parsed, and where it is written."""

    text: str
    tree: expr.Node
    spot: Spot


@dataclass(frozen=True)
class Marks:
    """One layer's list of steps: numbers (0-based here, written from 1) and conditions."""

    numbers: tuple[int, ...] = ()  # sorted
    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.numbers or self.conditions)

    def holds(self, kind: Kind, step: Step) -> bool:
        """Is this step in the list: its number, or a condition that holds at it?"""
        if step.index in self.numbers:
            return True
        if not self.conditions:
            return False
        env = step_names(kind, step)
        return any(expr.holds(c.tree, env) for c in self.conditions)


NO_MARKS = Marks()


# --- reading --------------------------------------------------------------------------------------


def spot(node: yaml.ScalarNode) -> Spot:
    start, end = node.start_mark, node.end_mark
    raw = end.index - start.index
    quoted = node.style in ("'", '"')
    exact = start.line == end.line and raw == len(node.value) + (2 if quoted else 0)
    return Spot(start.line + 1, start.column + 1 + (1 if quoted and exact else 0), exact)


def condition_error(path: str, c: Spot, offset: int, message: str) -> ScenarioError:
    return ScenarioError(path, message, *c.at(offset))


def read_marks(reader: Reader, node: yaml.Node, key: str, steps: int) -> Marks:
    """`[3, 7, {when: t == 3}]`: step numbers from 1 to ``steps`` and conditions, each checked at its node."""
    if not isinstance(node, yaml.SequenceNode):
        raise reader.error(node, f"{key} is a list of step numbers (from 1) and conditions, for example "
                           f"[3, {{when: t == 2}}]")
    numbers, conditions = set(), []
    for item in node.value:
        if isinstance(item, yaml.MappingNode):
            keys = reader.mapping(item, f"an item of {key}", ("when",), required=("when",))
            text = reader.string(keys["when"], "when")
            where = spot(keys["when"])
            try:
                conditions.append(Condition(text, expr.parse(text), where))
            except expr.ExprError as e:
                raise condition_error(reader.path, where, e.offset, e.message) from None
            continue
        if not (isinstance(item, yaml.ScalarNode) and item.tag.endswith(":int")):
            raise reader.error(item, f"each item of {key} is a step number (from 1) or `{{when: EXPR}}`")
        n = reader.integer(item, "a step number", 1)
        if n > steps:
            raise reader.error(item, f"step {n:,} is past the end of this layer: its steps are numbered 1 to "
                               f"{steps:,} (the step count `stepper check` prints)")
        numbers.add(n - 1)
    return Marks(tuple(sorted(numbers)), tuple(conditions))


# --- names ------------------------------------------------------------------------------------------


def step_names(kind: Kind, step: Step) -> dict[str, expr.Value]:
    """What a condition can read at a step: `step` (from 1), where it is, and the step's values."""
    out: dict[str, expr.Value] = {"step": float(step.index + 1)}
    out.update((k, float(v)) for k, v in kind.places(step).items())
    for key, value in step.values.items():
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            out[key] = float(arr) if arr.ndim == 0 else arr.astype(float)
    return out


def sample(trace: Trace) -> list[int]:
    """Steps whose names stand for all of a layer's: the first ones, the start of each early unit, the last."""
    n = len(trace)
    picks = set(range(min(n, SAMPLED)))
    picks.update(trace.unit_start(u) for u in range(min(trace.units, SAMPLED)))
    picks.add(n - 1)
    return sorted(k for k in picks if 0 <= k < n)


def check(path: str, kind: Kind, trace: Trace, marks: Marks) -> None:
    """Refuse a condition that reads a name the layer's steps never carry, or that cannot be computed
    (vectors of different sizes, a vector where a truth value is needed), at the token's column."""
    if not marks.conditions:
        return
    envs = [step_names(kind, trace[k]) for k in sample(trace)]
    known = list(dict.fromkeys(name for env in envs for name in env))
    for c in marks.conditions:
        for name in expr.names(c.tree):
            if name.name not in known:
                raise condition_error(path, c.spot, name.at, f"unknown name `{name.name}`: the steps of "
                                      f"{kind.described} carry {', '.join(known)}")
        for env in envs:
            try:
                expr.holds(c.tree, env)
            except expr.ExprError as e:
                raise condition_error(path, c.spot, e.offset, e.message) from None


# --- finding where breakpoints fire -------------------------------------------------------------------


class Search(NamedTuple):
    """A search's answer: the step found (None: none), or, when it ran out of budget, where to go on."""

    hit: int | None
    done: bool = True
    resume: int = 0


@dataclass(eq=False)
class Finder:
    """Where breakpoints fire in one pipeline: the file's, plus steps the user added or silenced.

    Each step's conditions are evaluated when first asked about and the answer remembered; a search
    jumps over layers without conditions by their numbers alone."""

    pipeline: Pipeline
    marks: Sequence[Marks]
    kinds: Sequence[Kind]
    added: set[int] = field(default_factory=set)  # global steps (from 0) where `b` set a breakpoint
    silenced: set[int] = field(default_factory=set)  # global steps where `b` removed the file's

    def __post_init__(self) -> None:
        self.known = [bytearray(len(t)) if m.conditions else None for m, t in zip(self.marks, self.pipeline.traces)]

    def in_file(self, k: int) -> bool:
        """Does a breakpoint of the file fire at global step ``k``?"""
        pos = self.pipeline.locate(k)
        marks = self.marks[pos.layer]
        if pos.local in marks.numbers:
            return True
        known = self.known[pos.layer]
        if known is None:
            return False
        if not known[pos.local]:
            step = self.pipeline.traces[pos.layer][pos.local]
            known[pos.local] = 2 if marks.holds(self.kinds[pos.layer], step) else 1
        return known[pos.local] == 2

    def fires(self, k: int) -> bool:
        return k in self.added or (k not in self.silenced and self.in_file(k))

    def toggle(self, k: int) -> bool:
        """`b`: a breakpoint at ``k`` if none fires there, else none; True when one fires now."""
        if self.fires(k):
            self.added.discard(k)
            if self.in_file(k):
                self.silenced.add(k)
        else:
            self.silenced.discard(k)
            if not self.in_file(k):
                self.added.add(k)
        return self.fires(k)

    def search(self, k: int, direction: int, budget: int | None = None,
               stop: Callable[[], bool] | None = None) -> Search:
        """The nearest step after ``k`` (``direction`` 1) or before it (-1) where a breakpoint fires.
        At most ``budget`` conditions are evaluated; past it the answer says where to resume."""
        pipeline = self.pipeline
        layers = range(pipeline.locate(k).layer, len(pipeline.layers)) if direction > 0 else \
            range(pipeline.locate(k).layer, -1, -1)
        for i in layers:
            lo, hi = pipeline.start(i), pipeline.start(i) + len(pipeline.traces[i]) - 1
            lo, hi = (max(lo, k + 1), hi) if direction > 0 else (lo, min(hi, k - 1))
            if lo > hi:
                continue
            best = self.listed(i, lo, hi, direction)
            if self.known[i] is not None:
                end = hi if direction > 0 else lo
                if best is not None:
                    end = best - direction
                steps = range(lo, end + 1) if direction > 0 else range(hi, end - 1, -1)
                for j in steps:
                    if budget is not None and not self.known[i][j - pipeline.start(i)]:
                        if budget <= 0 or (stop and stop()):
                            return Search(None, False, j - direction)
                        budget -= 1
                    if j not in self.silenced and self.in_file(j):
                        best = j
                        break
            if best is not None:
                return Search(best)
        return Search(None)

    def listed(self, i: int, lo: int, hi: int, direction: int) -> int | None:
        """The nearest of layer ``i``'s numbered breakpoints and the added ones in lo..hi."""
        start = self.pipeline.start(i)
        numbers = [n for n in self.marks[i].numbers if start + n not in self.silenced]
        found = [start + n for n in window(numbers, lo - start, hi - start, direction)]
        found += window(sorted(self.added), lo, hi, direction)
        if not found:
            return None
        return min(found) if direction > 0 else max(found)

    def listing(self) -> list[Entry]:
        """Every breakpoint, for the palette: the file's by layer, then the ones set with b."""
        out: list[Entry] = []
        for i, marks in enumerate(self.marks):
            start = self.pipeline.start(i)
            kind = self.kinds[i].name
            out += [Entry(start + n, f"step {start + n + 1:,}: layer {i + 1} {kind}, its step {n + 1} (the file)")
                    for n in marks.numbers if start + n not in self.silenced]
            out += [Entry(None, f"layer {i + 1} {kind}: when {c.text} (the file)", i, c) for c in marks.conditions]
        out += [Entry(k, f"step {k + 1:,}: set with b") for k in sorted(self.added)]
        return out

    def alone(self, entry: Entry) -> Finder:
        """A finder for one condition of the file, by itself."""
        marks = [Marks(conditions=(entry.condition,)) if i == entry.layer else NO_MARKS
                 for i in range(len(self.marks))]
        return Finder(self.pipeline, marks, self.kinds)


class Entry(NamedTuple):
    """One line of the breakpoint listing: its global step, or the condition it stands for."""

    step: int | None
    text: str
    layer: int = 0
    condition: Condition | None = None


def window(numbers: Iterable[int], lo: int, hi: int, direction: int) -> list[int]:
    """The first (direction 1) or last (-1) of sorted ``numbers`` within lo..hi, as a list of at most one."""
    numbers = list(numbers)
    if direction > 0:
        i = bisect_left(numbers, lo)
        return [numbers[i]] if i < len(numbers) and numbers[i] <= hi else []
    i = bisect_right(numbers, hi) - 1
    return [numbers[i]] if i >= 0 and numbers[i] >= lo else []
