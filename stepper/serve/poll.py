"""The class poll: the presenter asks, every follower predicts the hidden value, then all see it.

The one path from students to the presenter, and it carries numbers only. The presenter presses
`p` at a step: the value that step computes is hidden on every screen (the presenter's, the
shared renderers'), each follower gets an input line of their own over the bottom row of their
screen, and their answers (a number, at most ``ANSWER_LENGTH`` characters, one counted per student
per question, the latest replacing the earlier) are kept on the server's thread. The presenter's
screen reads a summary twice a second: how many have answered, and a histogram. `p` again, or a
step away, reveals: the value comes back everywhere, each follower is told whether they were
right and by how much, the histogram marks the true value, and with ``--poll-log`` the question
and its anonymous answers are appended to a JSON Lines file.

Nothing a student does can move or slow the presenter: answers are parsed on the server's thread
at the pace the key filter lets keys through, and the presenter only ever asks for a summary.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

ANSWER_LENGTH = 32  # characters of one typed answer
ANSWER_EVERY = 1.0  # seconds between two answers of one student that count
NUMBER_KEYS = frozenset("0123456789.-+eE")
BINS = 10
TOLERANCE = 0.05  # relative; absolute ABSOLUTE near zero: as the quiz judges a prediction
ABSOLUTE = 0.01


def right(answer: float, value: float) -> bool:
    """Within 5 % of the value, or 0.01 of it near zero."""
    return abs(answer - value) <= max(TOLERANCE * abs(value), ABSOLUTE)


def number(text: str) -> float | None:
    """A typed answer as a finite number, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class Question:
    """One question of the poll, as the server keeps it."""

    number: int
    step: int  # the global step whose value is hidden
    value: float
    what: str  # how the presenter's screen names the value, e.g. "step 12 of layer 1 (conv2d)"
    opened: float = field(default_factory=time.time)
    answers: dict[object, tuple[str, float]] = field(default_factory=dict)  # session -> (name, answer)
    revealed: bool = False

    def answer(self, who: object, name: str, value: float) -> None:
        if not self.revealed:
            self.answers[who] = (name, value)

    def summary(self, followers: int, names: bool) -> dict:
        """What the presenter's screen shows: counts, a histogram, the value once revealed."""
        values = sorted(v for _, v in self.answers.values())
        return {"number": self.number, "step": self.step, "what": self.what, "answered": len(values),
                "followers": followers, "bins": histogram(values, self.value if self.revealed else None),
                "value": self.value if self.revealed else None,
                "right": sum(right(v, self.value) for v in values) if self.revealed else None,
                "names": [f"{n}: {v:g}" for n, v in self.answers.values()][-8:] if names else []}

    def record(self, followers: int) -> str:
        """The question and its anonymous answers, one JSON line for the lecturer's records."""
        values = sorted(v for _, v in self.answers.values())
        return json.dumps({"question": self.number, "asked": time.strftime("%Y-%m-%dT%H:%M:%S",
                                                                           time.localtime(self.opened)),
                           "step": self.step + 1, "what": self.what, "value": self.value,
                           "followers": followers, "answered": len(values),
                           "right": sum(right(v, self.value) for v in values), "answers": values})


def histogram(values: list[float], value: float | None) -> list[tuple[float, float, int, bool]]:
    """``BINS`` equal bins over the answers (and the true value, once shown): (low, high, count, holds
    the value)."""
    points = values + ([value] if value is not None else [])
    if not points:
        return []
    low, high = min(points), max(points)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / BINS
    counts = [0] * BINS
    for v in values:
        counts[min(int((v - low) / width), BINS - 1)] += 1
    marked = min(int((value - low) / width), BINS - 1) if value is not None else -1
    return [(low + i * width, low + (i + 1) * width, counts[i], i == marked) for i in range(BINS)]


def bars(summary: dict, width: int) -> list[str]:
    """The histogram as lines of text: range, bar, count; the true value's bin marked."""
    bins = summary["bins"]
    if not bins:
        return ["no answers yet"]
    most = max(count for _, _, count, _ in bins) or 1
    room = max(width - 36, 5)
    lines = []
    for low, high, count, marked in bins:
        bar = "█" * round(count / most * room) if count else ""
        mark = f"  ◀ {summary['value']:.4g}" if marked else ""
        lines.append(f"{f'{low:.4g} .. {high:.4g}':<24}{count:>4} {bar}{mark}")
    return lines


def panel_text(summary: dict, width: int) -> str:
    """The presenter's poll panel: the question, how many answered, the histogram."""
    head = f"Poll {summary['number']}, {summary['what']}: {summary['answered']} of {summary['followers']} answered"
    if summary["value"] is not None:
        head += f"; the value is {summary['value']:.4g}, {summary['right']} right   (p closes)"
    else:
        head += "   (p reveals)"
    lines = [head, *bars(summary, width)]
    if summary["names"]:
        lines.append("latest: " + ", ".join(summary["names"]))
    return "\n".join(lines)


class Prompt:
    """A follower's own input line while a question is open: digits and the rest of a number."""

    def __init__(self, question: Question) -> None:
        self.question = question
        self.text = ""
        self.sent: float | None = None
        self.last_sent = 0.0
        self.skipped = False

    def key(self, key: bytes) -> str | None:
        """Take one key; "send" when Enter sends an answer, "skip" on Esc, else None."""
        if key in (b"\r", b"\n"):
            value = number(self.text)
            now = time.monotonic()
            if value is None or now - self.last_sent < ANSWER_EVERY:
                return None
            self.sent, self.last_sent = value, now
            return "send"
        if key == b"\x1b":
            self.skipped = True
            return "skip"
        if key in (b"\x7f", b"\x08"):
            self.text = self.text[:-1]
        elif len(key) == 1 and chr(key[0]) in NUMBER_KEYS and len(self.text) < ANSWER_LENGTH:
            self.text += chr(key[0])
        return None

    def line(self, width: int) -> str:
        """The input line as it covers the bottom row."""
        if self.sent is not None and self.text == f"{self.sent:g}":
            tail = f"sent {self.sent:g}: wait for the reveal (or type another, Enter)"
        else:
            tail = "Enter sends, Esc skips"
        text = f" Predict the hidden value ?: {self.text}_   {tail}"
        return text[:width].ljust(width)


def verdict(question: Question, answer: float | None) -> str:
    """What a follower is told at the reveal."""
    told = f"The value is {question.value:.4g}."
    if answer is None:
        return f" {told} (You did not answer.)"
    off = abs(answer - question.value)
    if right(answer, question.value):
        return f" {told} You said {answer:g}: right!"
    return f" {told} You said {answer:g}: off by {off:.3g}."
