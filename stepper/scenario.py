"""Scenario files: YAML in, a validated ``Scenario`` out, or a ScenarioError at the offending node.

Shapes flow through the layers before anything large is allocated, so a file that asks for too much
is refused by arithmetic alone. The layer keys are read by ``stepper.layers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import yaml

from stepper.engine import Layer, Pipeline
from stepper.layers import Stops
from stepper.quiz import DEFAULT, Tolerance, read_tolerance
from stepper.yamlread import Reader, ScenarioError, shape_text

__all__ = ["Scenario", "ScenarioError", "load"]

MAX_ELEMENTS = 4_194_304  # numbers in any one array: input, weight or layer output (2**22)
MAX_TOTAL = 16_777_216  # numbers across the whole scenario (about 128 MiB of float64)
MAX_STEPS = 10_000_000  # steps in the whole trace
MAX_WORK = 200_000_000  # multiply-adds in the vectorised passes (about a second of NumPy)
MAX_LAYERS = 64
MAX_TEXT = 4096  # characters or words of `text` input

TOP_KEYS = ("title", "description", "seed", "input", "layers", "tolerance")


@dataclass(frozen=True, eq=False)
class LayerInfo:
    """What `check` and the shapes panel say about one layer."""

    layer: Layer
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    steps: int
    group: int | None = None
    stops: Stops = Stops()  # its breakpoints, questions and tolerance


@dataclass(frozen=True, eq=False)
class Scenario:
    path: str
    title: str
    description: str
    seed: int
    input: np.ndarray
    input_kind: str
    tokens: tuple[str, ...]
    stages: tuple[tuple[Layer, ...], ...]
    info: tuple[LayerInfo, ...] = field(default=())
    tolerance: Tolerance = DEFAULT  # how close a prediction must be (`--quiz`), unless a layer says

    @property
    def layers(self) -> list[Layer]:
        return [i.layer for i in self.info]

    @property
    def param_count(self) -> int:
        return sum(layer.param_count for layer in self.layers)

    @property
    def step_count(self) -> int:
        return sum(i.steps for i in self.info)

    @cached_property
    def pipeline(self) -> Pipeline:
        return Pipeline(self.input, self.stages, self.tokens)


class Budget:
    """Counts numbers allocated for one scenario and refuses, at a node, what would pass the limits."""

    def __init__(self, reader: Reader) -> None:
        self.reader, self.total, self.steps, self.work = reader, 0, 0, 0

    def take(self, node: yaml.Node, what: str, shape: tuple[int, ...]) -> None:
        n = math.prod(shape)
        if n > MAX_ELEMENTS:
            raise self.reader.error(node, f"{what} would have shape {shape_text(shape)} = {n:,} numbers, over "
                                    f"stepper's limit of {MAX_ELEMENTS:,} per array: make it smaller")
        self.total += n
        if self.total > MAX_TOTAL:
            raise self.reader.error(node, f"the scenario would hold {self.total:,} numbers, over stepper's limit "
                                    f"of {MAX_TOTAL:,}: make inputs or layers smaller")

    def run(self, node: yaml.Node, steps: int, work: int) -> None:
        self.steps += steps
        self.work += work
        if self.steps > MAX_STEPS:
            raise self.reader.error(node, f"the trace would have {self.steps:,} steps, over stepper's limit of "
                                    f"{MAX_STEPS:,}: make the input smaller or the stride larger")
        if self.work > MAX_WORK:
            raise self.reader.error(node, f"the layers would need {self.work:,} multiply-adds, over stepper's "
                                    f"limit of {MAX_WORK:,}: make the input or the kernels smaller")


def load(path: str) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError with the file, line and column."""
    from stepper import layers  # the layer-key readers, kept in their own module

    reader = Reader(str(path))
    root = reader.load()
    if not isinstance(root, yaml.MappingNode):
        raise reader.error(root, "a scenario is a mapping with title, input and layers at the top level, "
                           f"not {'a list' if isinstance(root, yaml.SequenceNode) else 'a single value'}")
    top = reader.mapping(root, "the scenario", TOP_KEYS, required=("title", "input", "layers"))
    title = reader.string(top["title"], "title").strip()
    if not title or "\n" in title:
        raise reader.error(top["title"], "title must be one non-empty line")
    description = reader.string(top["description"], "description") if "description" in top else ""
    seed = reader.integer(top["seed"], "seed", 0, 2**63 - 1) if "seed" in top else 0
    tolerance = read_tolerance(reader, top["tolerance"]) if "tolerance" in top else DEFAULT
    budget = Budget(reader)
    x, kind, tokens = read_input(reader, budget, top["input"], seed)

    stages_node = top["layers"]
    if not isinstance(stages_node, yaml.SequenceNode) or not stages_node.value:
        raise reader.error(stages_node, "layers must be a non-empty list of layers, each `- type: ...`")
    stages, info = [], []
    shape = x.shape
    for node in stages_node.value:
        members = layers.stage_members(reader, node)
        if len(info) + len(members) > MAX_LAYERS:
            raise reader.error(node, f"more than {MAX_LAYERS} layers: over stepper's limit")
        built = []
        for member in members:
            index = len(info)
            rng = np.random.default_rng([seed, 1 + index])
            layer, out_shape, steps, work, stops = layers.read_layer(reader, budget, member, shape, rng,
                                                                     (seed, 1 + index))
            budget.take(member, "this layer's output", out_shape)
            budget.run(member, steps, work)
            info.append(LayerInfo(layer, shape, out_shape, steps, len(stages) if len(members) > 1 else None, stops))
            built.append(layer)
        stages.append(tuple(built))
        shape = info[len(info) - len(members)].output_shape
    scenario = Scenario(str(path), title, description, seed, x, kind, tokens, tuple(stages), tuple(info), tolerance)
    check_finite(reader, scenario, stages_node)
    check_conditions(scenario)
    return scenario


def check_conditions(scenario: Scenario) -> None:
    """Refuse a `when:` condition that reads a name its layer's steps never carry, or cannot be computed."""
    from stepper.breaks import check
    from stepper.layers import kind_of

    for info, trace in zip(scenario.info, scenario.pipeline.traces):
        for marks in (info.stops.breakpoints, info.stops.ask):
            if marks:
                check(scenario.path, kind_of(info.layer), trace, marks)


def check_finite(reader: Reader, scenario: Scenario, stages_node: yaml.SequenceNode) -> None:
    """Refuse a scenario whose numbers overflow (every layer's output must be finite)."""
    with np.errstate(all="ignore"):
        traces = scenario.pipeline.traces
    from stepper.layers import stage_members

    nodes = [m for node in stages_node.value for m in stage_members(reader, node)]
    for trace, node in zip(traces, nodes):
        if not np.isfinite(trace.output).all():
            raise reader.error(node, f"this {trace.layer.type} layer's output overflows (not finite): "
                               "scale the input or the weights down")


def read_input(reader: Reader, budget: Budget, node: yaml.Node, seed: int) -> tuple[np.ndarray, str, tuple]:
    """The first layer's input: `array`, `text` + `embed` or `random`, exactly one of them."""
    keys = reader.mapping(node, "input", ("array", "text", "embed", "split", "random"))
    forms = [k for k in ("array", "text", "random") if k in keys]
    if len(forms) != 1:
        count = "two" if len(forms) == 2 else "three"
        what = f"{count} input forms at once (" + " and ".join(forms) + ")" if forms else "no input form"
        later = max((keys[k] for k in forms), key=lambda n: n.start_mark.index, default=node)  # the form written last
        raise reader.error(later, f"input has {what}: give exactly one of `array`, `text` (with `embed`) or "
                           "`random`")
    kind = forms[0]
    if kind != "text":
        for k in ("embed", "split"):
            if k in keys:
                raise reader.error(keys[k], f"`{k}` goes with `text` input, not with `{kind}`: remove it")
    rng = np.random.default_rng([seed, 0])
    if kind == "array":
        x = reader.array(keys["array"], "input array", MAX_ELEMENTS)
        if x.ndim > 4:
            raise reader.error(keys["array"], f"input array has {x.ndim} dimensions; stepper takes 1 to 4")
        budget.take(keys["array"], "input array", x.shape)
        return x, kind, ()
    if kind == "random":
        return read_random(reader, budget, keys["random"], rng), kind, ()
    if "embed" not in keys:
        raise reader.error(node, "text input needs `embed: N`, the size of each token's vector (for example "
                           "embed: 256)")
    text = reader.string(keys["text"], "text")
    split = reader.string(keys["split"], "split", ("chars", "space")) if "split" in keys else "chars"
    tokens = tuple(text.split() if split == "space" else text)
    if not tokens:
        raise reader.error(keys["text"], "text is empty: give at least one character")
    if len(tokens) > MAX_TEXT:
        raise reader.error(keys["text"], f"text has {len(tokens):,} tokens, over stepper's limit of {MAX_TEXT:,}")
    embed = reader.integer(keys["embed"], "embed", 1, MAX_ELEMENTS)
    vocab = list(dict.fromkeys(tokens))
    budget.take(keys["embed"], "the embedding table", (len(vocab), embed))
    budget.take(keys["embed"], "the embedded text", (len(tokens), embed))
    table = rng.standard_normal((len(vocab), embed))  # like nn.Embedding: N(0, 1), in order of first use
    index = {tok: i for i, tok in enumerate(vocab)}
    return table[[index[t] for t in tokens]], kind, tokens


def read_random(reader: Reader, budget: Budget, node: yaml.Node, rng: np.random.Generator) -> np.ndarray:
    keys = reader.mapping(node, "random input", ("shape", "low", "high"), required=("shape",))
    shape_node = keys["shape"]
    if not isinstance(shape_node, yaml.SequenceNode) or not 1 <= len(shape_node.value) <= 4:
        raise reader.error(shape_node, "shape must be a list of 1 to 4 sizes, for example [3, 128, 128]")
    shape = tuple(reader.integer(v, "each size in shape", 1, MAX_ELEMENTS) for v in shape_node.value)
    budget.take(shape_node, "random input", shape)
    if "low" not in keys and "high" not in keys:
        return rng.standard_normal(shape)
    low = reader.number(keys["low"], "low") if "low" in keys else 0.0
    high = reader.number(keys["high"], "high") if "high" in keys else 1.0
    if not low < high:
        raise reader.error(node, f"low ({low:g}) must be below high ({high:g})")
    return rng.uniform(low, high, shape)
