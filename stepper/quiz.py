"""Predict, then reveal: which steps ask, the number a step computes, and whether a prediction is right.

`stepper run FILE --quiz` hides the number each asked step computes until the user has typed a
prediction. A layer's `ask:` list (step numbers and `{when: EXPR}`, as `breakpoints:`) names the
steps to ask; when no layer of the file has one, every step that computes a number asks. A
prediction is right within the tolerance: `tolerance:` at the top of the file or on a layer, a
relative error (0.05 by default) or `{relative: R, absolute: A}`; near zero the absolute error A
(0.01 by default) decides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import yaml

from stepper.yamlread import Reader

if TYPE_CHECKING:
    from stepper.breaks import Marks
    from stepper.engine import Step
    from stepper.layers import Kind

MAX_GUESS = 32  # characters of a typed prediction
NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Tolerance:
    """How far a prediction may be from the value and still be right."""

    relative: float = 0.05
    absolute: float = 0.01

    def allows(self, guess: float, value: float) -> bool:
        return abs(guess - value) <= max(self.relative * abs(value), self.absolute)

    def text(self) -> str:
        return f"{self.relative:.0%} or {self.absolute:g}"


DEFAULT = Tolerance()


def read_tolerance(reader: Reader, node: yaml.Node, default: Tolerance = DEFAULT) -> Tolerance:
    """`tolerance: 0.1` (relative) or `tolerance: {relative: 0.1, absolute: 0.001}`."""
    if isinstance(node, yaml.MappingNode):
        keys = reader.mapping(node, "tolerance", ("relative", "absolute"))
        relative = share(reader, keys["relative"], "relative") if "relative" in keys else default.relative
        absolute = reader.number(keys["absolute"], "absolute") if "absolute" in keys else default.absolute
        if absolute < 0:
            raise reader.error(keys["absolute"], f"absolute is {absolute:g}; it must be 0 or more: the error "
                               "allowed near zero")
        return Tolerance(relative, absolute)
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
        return Tolerance(share(reader, node, "tolerance"), default.absolute)
    raise reader.error(node, "tolerance is a relative error such as 0.05, or {relative: 0.05, absolute: 0.01}")


def share(reader: Reader, node: yaml.Node, what: str) -> float:
    value = reader.number(node, what)
    if not 0 <= value <= 1:
        raise reader.error(node, f"{what} is {value:g}; a relative error is from 0 to 1 (0.05 is 5%)")
    return value


def computed(kind: Kind, step: Step) -> tuple[str, int, float] | None:
    """The number a step computes, as its type declares it: (its key in the step's values, its index
    in that value read flat, the number), or None when the step computes none."""
    where = kind.computes(step)
    if where is None:
        return None
    key, index = where
    return key, index, float(np.ravel(step.values[key])[index])


def label(kind: Kind, step: Step, key: str, index: int) -> str:
    """What the number is called: `h_t[0] (t = 3)`, `mean (feature = 2)`, `y (o = 0, i = 0, j = 5)`
    (a window's result is an output cell y)."""
    name = ("y" if key == "result" else key) if np.ndim(step.values[key]) == 0 else f"{key}[{index}]"
    where = ", ".join(f"{k} = {v}" for k, v in kind.places(step).items())
    return f"{name} ({where})" if where else name


def asks(kind: Kind, step: Step, ask: Marks | None, listed: bool) -> bool:
    """Does this step ask? Where any layer has `ask:`, the steps it lists; else every step that
    computes a number."""
    if computed(kind, step) is None:
        return False
    if not listed:
        return True
    return bool(ask) and ask.holds(kind, step)


def guess_of(text: str) -> float | None:
    """A typed prediction as a number (`0.5`, `-1.2e-3`, `.5`), None for anything else."""
    text = text.strip()
    if len(text) > MAX_GUESS or not NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Verdict:
    """One answered question: the prediction, the value and whether it was right."""

    guess: float
    value: float
    right: bool

    @property
    def off(self) -> float:
        return abs(self.guess - self.value)

    def by_how_much(self) -> str:
        """`off by 0.0023 (0.5%)`, `exactly`."""
        if self.off == 0:
            return "exactly"
        share = f" ({self.off / abs(self.value):.1%})" if self.value else ""
        return f"off by {self.off:.4g}{share}"


def grade(guess: float, value: float, tolerance: Tolerance) -> Verdict:
    return Verdict(guess, value, tolerance.allows(guess, value))


def score(verdicts: Sequence[Verdict]) -> tuple[int, int]:
    """(right, asked): skipped questions count in neither."""
    return sum(v.right for v in verdicts), len(verdicts)
