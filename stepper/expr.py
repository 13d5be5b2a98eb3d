"""Breakpoint conditions: a small expression language, parsed and evaluated by stepper itself.

    abs(max(h_t)) > 0.9        t == 3 and step > 2        sum(h_t > 0.5) >= 10        not keep

Numbers, names (the values of a step's `trace --json` line), ``+ - * / **``, unary ``-``, the
functions ``abs max min mean sum``, comparisons ``< <= > >= == !=``, ``and or not`` and
parentheses. Nothing else: no strings, no attribute access, no indexing, no other calls. Every
number is a 64-bit float, so ``10 ** 10 ** 10`` is a number too large (refused when written with
numbers alone), never a computation that runs for ever. The text is at most ``MAX_LENGTH``
characters and nests at most ``MAX_DEPTH`` deep; a syntax error names its column.

Values are floats or read-only float arrays (a vector such as h_t); arithmetic and comparisons
work element by element, and ``max min mean sum`` reduce everything they are given to one number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np

MAX_LENGTH = 500  # characters of one condition
MAX_DEPTH = 32  # nested parentheses, calls, unary minuses, nots and powers
FUNCTIONS = ("abs", "max", "min", "mean", "sum")
KEYWORDS = ("and", "or", "not")
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")

Value = Union[float, np.ndarray]


class ExprError(Exception):
    """A condition stepper cannot read or compute: ``offset`` is the character it is about (from 0)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


class Missing(Exception):
    """A name this step does not carry (an RNN's h_t before its activation): the condition is false here."""


# --- the syntax tree: small frozen nodes, each with the offset of its token ------------------------


@dataclass(frozen=True)
class Num:
    value: float
    at: int


@dataclass(frozen=True)
class Name:
    name: str
    at: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    at: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+" or "not"
    operand: object
    at: int


@dataclass(frozen=True)
class Chain:
    """``a op b op c``: arithmetic left to right, comparisons pairwise (``0 < x < 1``), and/or."""

    first: object
    rest: tuple  # ((op, offset, operand), ...)


Node = Union[Num, Name, Call, Unary, Chain]


# --- reading ---------------------------------------------------------------------------------------

TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|<=|>=|==|!=|[-+*/<>(),])
""", re.VERBOSE)

HINTS = {
    ".": "attribute access is not part of a condition: use the step's names as they are",
    "'": "a condition holds no text, only numbers and names",
    '"': "a condition holds no text, only numbers and names",
    "[": "a condition cannot index a vector: use max, min, mean or sum over it",
    "=": "write == to compare",
    "&": "write `and`",
    "|": "write `or`",
    "!": "write `not`, or != to compare",
    "^": "write ** for a power",
}


def tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) for each token; an unknown character is an error at its column."""
    out, at = [], 0
    while at < len(text):
        m = TOKEN.match(text, at)
        if m is None:
            ch = text[at]
            hint = HINTS.get(ch, "a condition uses numbers, names, + - * / **, comparisons, and/or/not, "
                                 "parentheses and abs max min mean sum")
            raise ExprError(f"unexpected `{ch}`: {hint}", at)
        if m.lastgroup != "space":
            kind = "keyword" if m.lastgroup == "name" and m.group() in KEYWORDS else m.lastgroup
            out.append((kind, m.group(), at))
        at = m.end()
    out.append(("end", "", len(text)))
    return out


class Parser:
    """Recursive descent with a depth counter: deep input is an error, never a RecursionError."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def deeper(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"the condition nests more than {MAX_DEPTH} deep: write it more simply", at)

    def parse(self) -> Node:
        node = self.boolean("or")
        kind, text, at = self.tok
        if kind != "end":
            what = "`)` without its `(`" if text == ")" else f"`{text}`"
            raise ExprError(f"unexpected {what}: the condition should end or go on with an operator here", at)
        return node

    def boolean(self, op: str) -> Node:
        lower = (lambda: self.boolean("and")) if op == "or" else self.negation
        first, rest = lower(), []
        while self.tok[:2] == ("keyword", op):
            at = self.take()[2]
            rest.append((op, at, lower()))
        return Chain(first, tuple(rest)) if rest else first

    def negation(self) -> Node:
        if self.tok[:2] == ("keyword", "not"):
            at = self.take()[2]
            self.deeper(at)
            node = Unary("not", self.negation(), at)
            self.depth -= 1
            return node
        return self.chain(self.arith_sum, COMPARISONS)

    def chain(self, lower, ops) -> Node:
        first, rest = lower(), []
        while self.tok[0] == "op" and self.tok[1] in ops:
            op, at = self.take()[1:]
            rest.append((op, at, lower()))
        return Chain(first, tuple(rest)) if rest else first

    def arith_sum(self) -> Node:
        return self.chain(self.product, ("+", "-"))

    def product(self) -> Node:
        return self.chain(self.unary, ("*", "/"))

    def unary(self) -> Node:
        if self.tok[0] == "op" and self.tok[1] in "+-":
            op, at = self.take()[1:]
            self.deeper(at)
            node = Unary(op, self.unary(), at)  # -2 ** 2 is -(2 ** 2), as on paper
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.tok[:2] == ("op", "**"):
            at = self.take()[2]
            self.deeper(at)
            exponent = self.unary()  # right to left: 2 ** 3 ** 2 is 2 ** 9
            self.depth -= 1
            return Chain(base, (("**", at, exponent),))
        return base

    def atom(self) -> Node:
        kind, text, at = self.take()
        if kind == "number":
            value = float(text)
            if not np.isfinite(value):
                raise ExprError(f"{text} is too large a number", at)
            return Num(value, at)
        if kind == "name":
            if self.tok[:2] == ("op", "("):
                return self.call(text, at)
            if text in FUNCTIONS:
                raise ExprError(f"{text} is a function: write {text}(...)", at)
            return Name(text, at)
        if (kind, text) == ("op", "("):
            self.deeper(at)
            node = self.boolean("or")
            self.depth -= 1
            self.expect(")", at, "`(`")
            return node
        if kind == "end":
            raise ExprError("the condition ends too soon: a number, a name or `(` should follow", at)
        raise ExprError(f"unexpected `{text}`: a number, a name or `(` should be here", at)

    def call(self, name: str, at: int) -> Node:
        if name not in FUNCTIONS:
            raise ExprError(f"`{name}(...)`: stepper's functions are {', '.join(FUNCTIONS)}", at)
        self.take()  # (
        self.deeper(at)
        args = [self.boolean("or")]
        while self.tok[:2] == ("op", ","):
            self.take()
            args.append(self.boolean("or"))
        self.depth -= 1
        self.expect(")", at, f"`{name}(`")
        if name == "abs" and len(args) != 1:
            raise ExprError(f"abs takes one argument, not {len(args)}", at)
        return Call(name, tuple(args), at)

    def expect(self, text: str, opened: int, what: str) -> None:
        kind, found, at = self.take()
        if (kind, found) != ("op", text):
            shown = "the end" if kind == "end" else f"`{found}`"
            raise ExprError(f"{what} is not closed: expected `{text}`, found {shown}", at)


def parse(text: str) -> Node:
    """The syntax tree of a condition; ExprError for a bad one, with the offset of the bad token."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the condition is {len(text):,} characters long; stepper's limit is {MAX_LENGTH}: "
                        "write it more simply", MAX_LENGTH)
    if not text.strip():
        raise ExprError("the condition is empty: write one such as `t == 3`", 0)
    node = Parser(text).parse()
    constant(node)
    return node


def names(node: Node) -> list[Name]:
    """Every name the condition reads, in order (the functions are not names)."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        if isinstance(n, Name):
            out.append(n)
        elif isinstance(n, Call):
            todo.extend(reversed(n.args))
        elif isinstance(n, Unary):
            todo.append(n.operand)
        elif isinstance(n, Chain):
            todo.extend(reversed([op[2] for op in n.rest]))
            todo.append(n.first)
    return out


def constant(node: Node) -> None:
    """Refuse a part written with numbers alone that is not a finite number (10 ** 10 ** 10, 1 / 0)."""
    if names(node):
        for child in children(node):
            constant(child)
        return
    value = evaluate(node, {})
    if not np.isfinite(value):
        raise ExprError("this part of the condition is not a finite number (it overflows or divides by "
                        "zero): write it with smaller numbers", offset(node))


def children(node: Node) -> list[Node]:
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Chain):
        return [node.first] + [op[2] for op in node.rest]
    return []


def offset(node: Node) -> int:
    return offset(node.first) if isinstance(node, Chain) else node.at


# --- computing ---------------------------------------------------------------------------------------

ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}
COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
           "!=": np.not_equal}
REDUCE = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum}


def evaluate(node: Node, env: Mapping[str, Value]) -> Value:
    """The condition's value at a step whose names are ``env``: a float or a float array.
    Raises Missing for a name the step does not carry, ExprError for sizes that do not fit."""
    with np.errstate(all="ignore"):  # overflow gives inf, 0/0 gives nan: compared, they are false
        return _eval(node, env)


def _eval(node: Node, env: Mapping[str, Value]) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        if node.name not in env:
            raise Missing(node.name)
        return env[node.name]
    if isinstance(node, Call):
        args = [_eval(a, env) for a in node.args]
        if node.name == "abs":
            return np.abs(args[0])
        flat = np.concatenate([np.ravel(a) for a in args])
        if flat.size == 0:
            raise ExprError(f"{node.name} of nothing: its vector is empty", node.at)
        return float(REDUCE[node.name](flat))
    if isinstance(node, Unary):
        value = _eval(node.operand, env)
        if node.op == "not":
            return float(not truth(value, node.at))
        return -value if node.op == "-" else value
    return chain(node, env)


def chain(node: Chain, env: Mapping[str, Value]) -> Value:
    left = _eval(node.first, env)
    if node.rest[0][0] in ("and", "or"):
        for op, at, operand in node.rest:
            if truth(left, offset(node.first)) == (op == "or"):  # decided: `or` on true, `and` on false
                return float(op == "or")
            left = _eval(operand, env)
        return float(truth(left, node.rest[-1][1]))
    if node.rest[0][0] in COMPARE:
        result: Value = 1.0
        for op, at, operand in node.rest:
            right = _eval(operand, env)
            result = result * fit(COMPARE[op], left, right, at, op).astype(float)
            left = right
        return result if np.ndim(result) else float(result)
    for op, at, operand in node.rest:
        left = fit(ARITH[op], left, _eval(operand, env), at, op)
    return left if np.ndim(left) else float(left)


def fit(ufunc, left: Value, right: Value, at: int, op: str) -> np.ndarray:
    """``left op right`` element by element; vectors of different sizes are an error at ``op``."""
    a, b = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    if a.ndim and b.ndim and a.shape != b.shape:
        raise ExprError(f"`{op}` between {size(a)} and {size(b)}: vectors must be the same size; "
                        "reduce one with max, min, mean or sum", at)
    return ufunc(a, b)


def size(a: np.ndarray) -> str:
    return f"{a.size:,} numbers" if a.ndim == 1 else "an array of shape (" + ", ".join(map(str, a.shape)) + ")"


def truth(value: Value, at: int) -> bool:
    """A condition's truth: a number other than 0 is true (nan is not); a vector has none."""
    if np.ndim(value):
        raise ExprError(f"this gives {size(np.asarray(value))}, not one truth value: reduce it, for example "
                        "max(h_t) > 0.9 or sum(h_t > 0.5) >= 1", at)
    value = float(value)
    return value == value and value != 0.0


def holds(node: Node, env: Mapping[str, Value]) -> bool:
    """Does the condition hold at a step with names ``env``? False where a name it reads is missing."""
    try:
        value = evaluate(node, env)
    except Missing:
        return False
    return truth(value, offset(node))
