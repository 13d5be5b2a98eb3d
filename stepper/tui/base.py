"""What every family view receives, and the small base class they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from stepper.engine import Pipeline, Step


@dataclass
class Tally:
    """Dropout samples seen so far for one layer: how often each element was kept, and the output sum."""

    samples: int = 0
    kept: np.ndarray | None = None
    total: np.ndarray | None = None

    def add(self, keep: np.ndarray, output: np.ndarray) -> None:
        if self.kept is None:
            self.kept, self.total = np.zeros(keep.shape), np.zeros(output.shape)
        self.samples += 1
        self.kept = self.kept + keep
        self.total = self.total + output


@dataclass
class Context:
    """One screen's worth of state: where we are, and how the user has panned and chosen."""

    pipeline: Pipeline
    layer: int
    step: object  # Step of the layer shown (in a compare group: that member's aligned step)
    active: bool = True  # False for a compare member mirrored beside the one being stepped
    pan_rows: int = 0
    pan_cols: int = 0
    channel: int = 0
    tally: Tally | None = None
    width: int = 80
    height: int = 14
    labels: tuple[str, ...] = field(default=())

    @property
    def trace(self):
        return self.pipeline.traces[self.layer]


class FamilyView(Static):
    """A view of one layer family, redrawn only when what it shows has changed."""

    DEFAULT_CSS = """
    FamilyView { height: auto; width: 1fr; }
    """

    def show(self, ctx: Context) -> None:
        key = (id(ctx.pipeline), ctx.layer, ctx.step.index, ctx.active, ctx.pan_rows, ctx.pan_cols,
               ctx.channel, ctx.tally.samples if ctx.tally else 0, ctx.width, ctx.height)
        if key != getattr(self, "_last", None):  # the same state costs no repaint
            self._last = key
            self.update(Group(*self.lines(ctx)))

    def lines(self, ctx: Context) -> list:
        raise NotImplementedError

    @staticmethod
    def formula(ctx: Context) -> tuple[Text | str, Text | str]:
        """Two lines for the formula bar: the current formula with live numbers, and a note on shapes."""
        raise NotImplementedError


def title(text: str, extra: str = "") -> Text:
    line = Text(text, style="bold underline", no_wrap=True)
    if extra:
        line.append(f"  {extra}", style="dim")
    return line


def step_of(ctx: Context) -> Step:
    return ctx.step  # type: ignore[return-value]
