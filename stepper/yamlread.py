"""Reading untrusted YAML: size limits first, then composed nodes whose marks give every error a line.

The file is checked as bytes (size, UTF-8, control characters), then its event stream is walked once
without recursion to refuse absurd nesting and alias bombs before any tree is built; only then is it
composed into nodes, and values are read from the nodes by the typed helpers below.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml

from stepper.errors import StepperError

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 2 * 1024 * 1024  # a 3x128x128 image written out in YAML is about 0.4 MB
MAX_DEPTH = 24  # scenario > layers > compare > layer > weights > 4-D kernel is 10 levels
MAX_NODES = 300_000  # values after expanding aliases (anchors and `*refs`)

INT, FLOAT, BOOL, NULL, STR = (f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null", "str"))


class ScenarioError(StepperError):
    """A problem in a scenario file, at a line and column where the YAML has them."""

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.path, self.message, self.line, self.column = path, message, line, column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.message}"


class Reader:
    """Typed access to the composed nodes of one file; every failure is a ScenarioError at the node."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, message: str) -> ScenarioError:
        if node is None:
            return ScenarioError(self.path, message)
        mark = node.start_mark
        return ScenarioError(self.path, message, mark.line + 1, mark.column + 1)

    # --- loading -----------------------------------------------------------------------------

    def load(self) -> yaml.Node:
        text = self.read_text()
        self.prescan(text)
        try:
            node = yaml.compose(text, Loader=Loader)
        except yaml.MarkedYAMLError as e:
            raise self.syntax_error(e) from None
        except yaml.YAMLError as e:  # pragma: no cover - the prescan has seen the same stream
            raise ScenarioError(self.path, f"not valid YAML: {e}") from None
        if node is None:
            raise ScenarioError(self.path, "the file holds no scenario: it needs at least title, input and layers",
                                1, 1)
        return node

    def read_text(self) -> str:
        p = Path(self.path)
        try:
            size = p.stat().st_size
            if not p.is_file():
                raise ScenarioError(self.path, "not a file: give the path of a scenario .yaml file")
            if size > MAX_FILE_BYTES:
                raise ScenarioError(self.path, f"the file is {size:,} bytes, over stepper's limit of "
                                    f"{MAX_FILE_BYTES:,} bytes: use `random:` for large inputs instead of writing "
                                    "every number", 1, 1)
            with p.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise ScenarioError(self.path, "no such file: give the path of a scenario .yaml file") from None
        except OSError as e:
            raise ScenarioError(self.path, f"cannot read the file ({e.strerror}): check its permissions") from None
        if not data.strip():
            raise ScenarioError(self.path, "the file is empty: a scenario needs at least title, input and layers",
                                1, 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line, col = _position(data, e.start)
            raise ScenarioError(self.path, f"byte 0x{data[e.start]:02x} is not UTF-8: save the scenario as "
                                "UTF-8 text", line, col) from None
        for i, ch in enumerate(text):
            if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f":
                line, col = _position(text, i)
                raise ScenarioError(self.path, f"control character U+{ord(ch):04X} in the text: this looks like a "
                                    "binary file, not a YAML scenario", line, col)
        return text.lstrip("\ufeff")

    def prescan(self, text: str) -> None:
        """Walk the event stream: refuse deep nesting, too many values, alias bombs and bad aliases, with marks."""
        depth, total, sizes, stack = 0, 0, {}, []  # sizes: values under each anchor whose value is complete
        try:
            for event in yaml.parse(text, Loader=Loader):
                if isinstance(event, yaml.DocumentStartEvent) and total:
                    raise self._event_error(event, "a second YAML document: a scenario file holds exactly one")
                anchor = getattr(event, "anchor", None)
                if anchor is not None and not isinstance(event, yaml.AliasEvent) and \
                        (anchor in sizes or any(a == anchor for a, _ in stack)):
                    raise self._event_error(event, f"the anchor `&{anchor}` is defined twice: give each anchor "
                                            "its own name")
                if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise self._event_error(event, f"nesting deeper than {MAX_DEPTH} levels: arrays have "
                                                "at most 4 dimensions")
                    stack.append((event.anchor, total))
                    total += 1
                elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                    depth -= 1
                    anchor, start = stack.pop()
                    if anchor:
                        sizes[anchor] = total - start
                elif isinstance(event, yaml.ScalarEvent):
                    total += 1
                    if event.anchor:
                        sizes[event.anchor] = 1
                elif isinstance(event, yaml.AliasEvent):
                    name = event.anchor
                    if any(a == name for a, _ in stack):  # &a [*a]: a value that contains itself
                        raise self._event_error(event, f"`*{name}` is used inside its own anchor `&{name}`, "
                                                "which would repeat forever: write the values out instead")
                    if name not in sizes:
                        raise self._event_error(event, f"`*{name}` refers to no anchor: define `&{name}` on a "
                                                "value above it")
                    total += sizes[name]
                if total > MAX_NODES:
                    raise self._event_error(event, f"more than {MAX_NODES:,} values (aliases expanded): over "
                                            "stepper's limit for one scenario")
        except yaml.MarkedYAMLError as e:
            raise self.syntax_error(e) from None

    def _event_error(self, event: yaml.Event, message: str) -> ScenarioError:
        m = event.start_mark
        return ScenarioError(self.path, message, m.line + 1, m.column + 1)

    def syntax_error(self, e: yaml.MarkedYAMLError) -> ScenarioError:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or "not valid YAML"
        if "maximum nesting depth" in problem:  # libyaml stops at 1,000 levels, before the prescan sees them
            message = f"nesting deeper than {MAX_DEPTH} levels: arrays have at most 4 dimensions"
            return ScenarioError(self.path, message, mark.line + 1, mark.column + 1)
        context, start = e.context, e.context_mark
        if context and start is not None and mark is not None and start.line != mark.line:
            context += f" that starts at line {start.line + 1}, column {start.column + 1}"
        context = f" ({context})" if context else ""
        message = f"YAML syntax error: {problem}{context}; check the indentation and brackets here"
        if mark is None:  # pragma: no cover - PyYAML marks its syntax errors
            return ScenarioError(self.path, message)
        return ScenarioError(self.path, message, mark.line + 1, mark.column + 1)

    # --- typed values --------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str, known: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, yaml.Node]:
        """The keys of a mapping node: unknown keys, duplicates and missing required keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of `key: value` lines, not {_kind(node)}")
        known = list(known)
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str) or key_node.tag != STR:
                raise self.error(key_node, f"keys of {what} must be plain names such as `{known[0]}`")
            if key in out:
                raise self.error(key_node, f"`{key}` is given twice in {what}: keep one")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"did you mean `{close[0]}`?" if close else "known keys: " + ", ".join(known)
                raise self.error(key_node, f"unknown key `{key}` in {what}: {hint}")
            out[key] = value
        for key in required:
            if key not in out:
                raise self.error(node, f"{what} needs `{key}`")
        return out

    def string(self, node: yaml.Node, what: str, choices: Iterable[str] | None = None) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (STR, INT, FLOAT):
            raise self.error(node, f"{what} must be text, not {_kind(node)}")
        value = str(node.value)
        if choices is not None and value not in (choices := list(choices)):
            raise self.error(node, f"{what} is `{value}`; it must be one of " + ", ".join(choices))
        return value

    def number(self, node: yaml.Node, what: str) -> float:
        if isinstance(node, yaml.ScalarNode) and (node.tag in (INT, FLOAT) or _exponent(node)):
            value = float(_scalar(node))
            if not math.isfinite(value):
                raise self.error(node, f"{what} is {_shown(node.value)}: numbers must be finite (not .inf or "
                                 ".nan, and within about ±1.8e308)")
            return value
        raise self.error(node, f"{what} must be a number, not {_kind(node)}")

    def integer(self, node: yaml.Node, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == INT):
            raise self.error(node, f"{what} must be a whole number, not {_kind(node)}")
        value = _scalar(node)  # an int, or ±inf for an integer beyond the range of floats
        shown = f"{value:,}" if abs(value) < 10**18 else _shown(node.value)
        if minimum is not None and value < minimum:
            raise self.error(node, f"{what} is {shown}; it must be at least {minimum}")
        if maximum is None and isinstance(value, float):
            maximum = 2**63 - 1
        if maximum is not None and value > maximum:
            raise self.error(node, f"{what} is {shown}; stepper's limit is {maximum:,}")
        return value

    def pair(self, node: yaml.Node, what: str, minimum: int) -> tuple[int, int]:
        """An int, or a list [h, w] of two ints, as (h, w)."""
        if isinstance(node, yaml.SequenceNode):
            if len(node.value) != 2:
                raise self.error(node, f"{what} must be one whole number or a pair [h, w], not "
                                 f"{len(node.value)} numbers")
            h, w = (self.integer(v, what, minimum) for v in node.value)
            return h, w
        v = self.integer(node, what, minimum)
        return v, v

    def array(self, node: yaml.Node, what: str, limit: int) -> np.ndarray:
        """Nested lists of numbers as a float array; ragged rows and non-numbers are errors at the node."""
        shape: list[int] = []
        probe = node
        while isinstance(probe, yaml.SequenceNode):
            if not probe.value:
                raise self.error(probe, f"{what} has an empty list: every dimension needs at least one number")
            shape.append(len(probe.value))
            probe = probe.value[0]
        if not shape:
            raise self.error(node, f"{what} must be a list of numbers such as [1, 2, 3], not {_kind(node)}")
        size = math.prod(shape)
        if size > limit:
            raise self.error(node, f"{what} has {size:,} numbers, over stepper's limit of {limit:,}")
        flat = np.empty(size)
        n = 0
        todo = [(node, 0)]
        while todo:
            item, level = todo.pop()
            if level == len(shape):
                flat[n] = self.number(item, f"an entry of {what}")
                n += 1
                continue
            if not isinstance(item, yaml.SequenceNode):
                raise self.error(item, f"{what} must be rectangular: expected a list of {shape[level]} here, "
                                 f"found {_kind(item)}")
            if len(item.value) != shape[level]:
                raise self.error(item, f"{what} is ragged: this list has {len(item.value)} entries but the first "
                                 f"one at this depth has {shape[level]}; every row must have the same length")
            todo.extend((child, level + 1) for child in reversed(item.value))
        return flat.reshape(shape)


# YAML 1.1 reads 1e-5 and 1.0e5 as text (it wants a dot and a signed exponent); as a plain scalar
# where a number is expected, it is the number a lecturer means.
_EXPONENT = re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+")


def _exponent(node: yaml.ScalarNode) -> bool:
    plain = not node.style  # None from PyYAML, "" from libyaml; quoted text stays text
    return node.tag == STR and plain and _EXPONENT.fullmatch(node.value) is not None


def _scalar(node: yaml.ScalarNode) -> int | float:
    """A YAML 1.1 int or float scalar, parsed the way PyYAML's safe constructor parses it.

    An integer beyond the range of floats comes back as ±inf, so that no caller meets an
    OverflowError (or Python's 4,300-digit limit on int()).
    """
    text = node.value.replace("_", "")
    try:
        value = int(text) if node.tag == INT else float(text)
    except ValueError:
        try:
            value = yaml.SafeLoader("").construct_object(node)  # 0x1f, 017, 1:30, .inf and friends
        except ValueError:  # an integer of more than 4,300 digits
            return -math.inf if text.startswith("-") else math.inf
    if isinstance(value, int) and abs(value) > sys.float_info.max:
        return math.inf if value > 0 else -math.inf
    return value


def _shown(text: str, width: int = 24) -> str:
    """A value as a message quotes it: long values are cut short."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    names = {INT: "a number", FLOAT: "a number", BOOL: "true/false", NULL: "nothing (null)", STR: "text"}
    kind = names.get(node.tag, "a tagged value")
    return f"{kind} `{_shown(node.value)}`" if node.tag != NULL else kind


def _position(data: str | bytes, index: int) -> tuple[int, int]:
    nl = "\n" if isinstance(data, str) else b"\n"
    line = data.count(nl, 0, index) + 1
    start = data.rfind(nl, 0, index) + 1
    return line, index - start + 1


def shape_text(shape) -> str:
    """(256, 128) for a shape, as messages and `check` write it."""
    return "(" + ", ".join(str(s) for s in shape) + ")"
