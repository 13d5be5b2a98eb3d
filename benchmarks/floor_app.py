"""The floor: the smallest Textual app that shows a title and one line of numbers.

Right/Left/Home/End change the line, so a key costs the cheapest repaint Textual can do here.
Every figure in docs/performance.md is a ratio against this app, measured in the same run.

    python benchmarks/floor_app.py [STEPS] [MODULE...]

STEPS positions, 20 unless given; q quits. Any MODULEs are imported first: with `numpy numpy.random yaml` it is
the floor plus stepper's own dependencies (NumPy without a BLAS thread pool, as stepper loads it),
the part of stepper's start-up no change to stepper saves.
"""

from __future__ import annotations

import importlib
import os
import sys

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

TITLE = "stepper floor"


def numbers(k: int, n: int) -> str:
    """The one line that changes: the position and a few numbers that depend on it."""
    values = " ".join(f"{((k * 37 + i * 11) % 200 - 100) / 100:+.2f}" for i in range(8))
    return f"step {k + 1}/{n}  {values}"


class FloorApp(App):
    """A title and one line; four keys move along ``n`` positions."""

    BINDINGS = [
        Binding("right", "go(1)"),
        Binding("left", "go(-1)"),
        Binding("home", "first"),
        Binding("end", "last"),
        Binding("q", "quit"),
    ]

    def __init__(self, n: int = 20) -> None:
        super().__init__()
        self.n, self.k = n, 0

    def compose(self) -> ComposeResult:
        yield Static(TITLE, id="title")
        yield Static(numbers(0, self.n), id="line")

    def show(self, k: int) -> None:
        k = min(max(k, 0), self.n - 1)
        if k != self.k:
            self.k = k
            self.query_one("#line", Static).update(numbers(k, self.n))

    def action_go(self, delta: int) -> None:
        self.show(self.k + delta)

    def action_first(self) -> None:
        self.show(0)

    def action_last(self) -> None:
        self.show(self.n - 1)


if __name__ == "__main__":
    if sys.argv[2:]:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # NumPy loaded as stepper loads it
    for module in sys.argv[2:]:
        importlib.import_module(module)
    FloorApp(int(sys.argv[1]) if len(sys.argv) > 1 else 20).run()
