"""Layer types, each declared once: the `Kind` in its module of this package says all there is to it.

A declaration names the type (`type: lstm`), its YAML keys and the function that reads them, its
engine class and its view (as `module:Class`, imported when a scenario first uses them) and what its
`trace --json` output line carries besides the output. Every list of types stepper keeps is derived
from here: a new type is a new module in this package, one in `stepper.engine` and one view.

The modules of this package import neither an engine family nor a view: reading a scenario pays
only for the families it uses. A reader gets the input shape the layer will receive and returns
the layer, its output shape, its step count and its multiply-adds, all known before the first
number is computed, so a file that asks for too much is refused by arithmetic alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import yaml

from stepper.yamlread import Reader, ScenarioError
from stepper.yamlread import shape_text as _fmt

if TYPE_CHECKING:
    from stepper.breaks import Marks
    from stepper.engine import Layer, Step, Trace
    from stepper.quiz import Tolerance
    from stepper.scenario import Budget

COMMON = ("type", "notes", "step_notes", "breakpoints", "ask", "tolerance")  # keys every layer accepts
MAX_ARRAY = 4_194_304  # numbers in one written weight (scenario.MAX_ELEMENTS)


class Built(NamedTuple):
    """What a reader returns: the engine layer and what it will cost, known before it runs."""

    layer: Layer
    shape: tuple[int, ...]  # its output's
    steps: int
    work: int  # multiply-adds of its vectorised pass
    stops: Stops | None = None  # its breakpoints, questions and tolerance: read_layer fills them in


class Stops(NamedTuple):
    """What a layer's common keys say about stopping: `breakpoints:`, `ask:` and `tolerance:`."""

    breakpoints: Marks | None = None
    ask: Marks | None = None  # None: the layer has no `ask:` list
    tolerance: Tolerance | None = None  # None: the scenario's


def load(path: str) -> Any:
    """The object at `module:name`, its module imported on first use."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def no_extras(trace: Trace) -> dict[str, np.ndarray]:
    return {}


def places(step: Step) -> dict[str, int]:
    """Where a step is, as the screen shows it: the time step `t` (from 1, as in h_3), a window's
    output position `o`, `i`, `j` (as in y[o,i,j]), a statistic's feature, sample or channel (from 1)."""
    h, out = step.highlight, {}
    if "t" in h:
        out["t"] = int(h["t"]) + 1
    if "out" in h:
        out["o"], out["i"], out["j"] = int(h["channel"]), int(h["out"][0]), int(h["out"][1])
    if "group" in h and isinstance(h.get("axis"), str) and h["axis"].isidentifier():
        out[h["axis"]] = int(h["group"]) + 1
    return out


def reveals_nothing(step: Step) -> tuple[str, ...]:
    return ()


def result_entry(step: Step) -> tuple[str, int] | None:
    """The number a step computes: its result when that is one number (an output cell, a mean), else
    the result's first entry (h_t[0] of a state, x_hat[0] of a normalised row); None without a result."""
    value = step.values.get(step.result) if step.result else None
    if value is None:
        return None
    arr = np.asarray(value)
    return (step.result, 0) if arr.size and arr.dtype.kind in "iuf" else None


@dataclass(frozen=True)
class Kind:
    """One layer type: everything stepper needs to know about `type: NAME` in a scenario file."""

    name: str
    order: int  # where the type stands when stepper lists the types (in errors, for instance)
    keys: tuple[str, ...]  # its own keys, besides type, notes and step_notes
    read: Callable[[Source], Built]
    engine: str  # `module:Class` of its engine layer; the engine class also says whether token labels stay
    view: str  # `module:Class` of the view that draws it
    carries: Callable[[Trace], Mapping[str, np.ndarray]] = no_extras  # extra fields of its output line
    places: Callable[[Step], Mapping[str, int]] = places  # where a step is: names of its JSON line and conditions
    computes: Callable[[Step], tuple[str, int] | None] = result_entry  # the number it computes: key, flat index
    reveals: Callable[[Step], tuple[str, ...]] = reveals_nothing  # other values that give that number away
    article: str = "a"  # as the type's name is read aloud: "an rnn layer"

    @property
    def described(self) -> str:
        return f"{self.article} {self.name} layer"

    def view_class(self) -> type:
        return load(self.view)


@dataclass(frozen=True)
class Source:
    """One layer's mapping in a file, with what its reader needs: the input shape it will receive,
    its seeded random stream, the scenario's budget and the layer's notes."""

    reader: Reader
    budget: Budget
    kind: Kind
    keys: dict[str, yaml.Node]
    node: yaml.Node
    shape: tuple[int, ...]
    rng: np.random.Generator  # its weights' stream: default_rng([seed, 1 + layer index])
    stream: tuple[int, int]  # (seed, 1 + layer index), for layers that draw again later (dropout)
    notes: dict[str, Any] = field(default_factory=dict)

    def error(self, node: yaml.Node | None, message: str) -> ScenarioError:
        return self.reader.error(node, message)

    def build(self, **fields: Any) -> Layer:
        """The kind's engine layer, with the layer's notes."""
        return load(self.kind.engine)(**fields, **self.notes)

    def rank(self, ranks: tuple[int, ...], expected: str) -> None:
        """Refuse an input whose number of axes the layer cannot take."""
        if len(self.shape) not in ranks:
            raise self.error(self.node, f"{self.kind.described} takes {expected}, but its input has shape "
                             f"{_fmt(self.shape)}")

    def number(self, name: str, default: float) -> float:
        return self.reader.number(self.keys[name], name) if name in self.keys else default

    def weight(self, keys: dict[str, yaml.Node], name: str, shape: tuple[int, ...], why: str) -> np.ndarray | None:
        """An explicit weight of exactly ``shape``, or None when the key is absent."""
        if name not in keys:
            return None
        value = self.reader.array(keys[name], name, MAX_ARRAY)
        if value.shape != shape:
            raise self.error(keys[name], f"{name} has shape {_fmt(value.shape)}, but {why}: {name} must be "
                             f"{_fmt(shape)}")
        return value

    def per_channel(self, name: str, n: int, default: float, what: str) -> np.ndarray:
        """A number for every channel, or a list of ``n`` numbers (``what`` names the channels)."""
        if name not in self.keys:
            return np.full(n, default)
        if isinstance(self.keys[name], yaml.ScalarNode):
            return np.full(n, self.reader.number(self.keys[name], name))
        value = self.reader.array(self.keys[name], name, MAX_ARRAY)
        if value.shape != (n,):
            raise self.error(self.keys[name], f"{name} has shape {_fmt(value.shape)}, but there are {n} {what}: "
                             f"give one number or a list of {n}")
        return value


@cache
def kinds() -> dict[str, Kind]:
    """Every declared type by name, in order: the `KINDS` of each module in this package."""
    here = os.path.dirname(__file__)
    found = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and not name.startswith("_"):
            found += import_module(f"{__name__}.{name[:-3]}").KINDS
    return {kind.name: kind for kind in sorted(found, key=lambda kind: kind.order)}


def kind_of(layer: Layer) -> Kind:
    """The declaration of an engine layer's type."""
    return kinds()[layer.type]


def stage_members(reader: Reader, node: yaml.Node) -> list[yaml.Node]:
    """The layer nodes of one pipeline stage: one layer, or the members of `compare: [...]`."""
    if isinstance(node, yaml.MappingNode) and any(k.value == "compare" for k, _ in node.value):
        keys = reader.mapping(node, "a compare group", ("compare",))
        members = keys["compare"]
        if not isinstance(members, yaml.SequenceNode) or len(members.value) < 2:
            raise reader.error(members, "compare needs a list of at least two layers to show side by side")
        return list(members.value)
    return [node]


def read_layer(reader: Reader, budget: Budget, node: yaml.Node, shape: tuple[int, ...], rng: np.random.Generator,
               stream: tuple[int, int]) -> Built:
    """One layer's mapping, read by its type's reader, with its notes and step notes checked."""
    if not isinstance(node, yaml.MappingNode):
        raise reader.error(node, "each layer is a mapping starting with `type:` (for example `- type: rnn`)")
    type_node = next((v for k, v in node.value if k.value == "type"), None)
    if type_node is None:
        raise reader.error(node, "this layer needs `type:`, one of " + ", ".join(kinds()))
    kind = kinds()[reader.string(type_node, "type", kinds())]
    keys = reader.mapping(node, kind.described, COMMON + kind.keys)
    notes = {"note": reader.string(keys["notes"], "notes") if "notes" in keys else ""}
    numbered = []  # (step number, its key node, its text)
    if "step_notes" in keys:
        m = keys["step_notes"]
        if not isinstance(m, yaml.MappingNode):
            raise reader.error(m, "step_notes maps step numbers to text, for example `0: first we ...`")
        numbered = [(reader.integer(k, "a step number", 0), k, reader.string(v, "a step note")) for k, v in m.value]
        notes["step_notes"] = {n: text for n, _, text in numbered}
    built = kind.read(Source(reader, budget, kind, keys, node, tuple(shape), rng, stream, notes))
    for n, k, _ in numbered:
        if n >= built.steps:
            raise reader.error(k, f"step {n:,} is past the end of this {kind.name} layer: its steps are numbered "
                               f"0 to {built.steps - 1:,}")
    return built._replace(stops=read_stops(reader, keys, built.steps))


def read_stops(reader: Reader, keys: dict[str, yaml.Node], steps: int) -> Stops:
    """A layer's `breakpoints:`, `ask:` and `tolerance:`, when it has them."""
    from stepper.breaks import read_marks
    from stepper.quiz import read_tolerance

    return Stops(*(read_marks(reader, keys[key], key, steps) if key in keys else None
                   for key in ("breakpoints", "ask")),
                 read_tolerance(reader, keys["tolerance"]) if "tolerance" in keys else None)
