"""What every family view receives, and the small base class they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from stepper.engine import Pipeline
from stepper.tui.render import Grid, Row


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


class FamilyView(Widget):
    """A view of one layer family, drawn line by line: a step repaints only the rows that changed.

    Views build Rich renderables (``lines``); they are rendered to strips here, compared with what
    is on screen, and only the rows that differ are refreshed, so a step over SSH sends a few rows,
    not the whole view.
    """

    DEFAULT_CSS = """
    FamilyView { height: auto; width: 1fr; }
    """
    input_channels = False  # True: the view shows one input channel at a time, and c shows the next

    def __init__(self) -> None:
        super().__init__()
        self.strips: list[Strip] = []
        self._last: tuple | None = None

    def show(self, ctx: Context) -> None:
        key = (id(ctx.pipeline), ctx.layer, ctx.step.index, ctx.active, ctx.pan_rows, ctx.pan_cols,
               ctx.channel, ctx.tally.samples if ctx.tally else 0, ctx.width, ctx.height)
        if key == self._last:  # the same state costs no repaint
            return
        self._last = key
        strips = [Strip(segments).simplify() for segments in self.render_rows(self.lines(ctx), ctx.width)]
        strips += [Strip([])] * (ctx.height - len(strips))  # a steady height: growing costs a layout
        old, self.strips = self.strips, strips
        if len(strips) != len(old):
            self.styles.height = len(strips)  # a new layout: everything is repainted once
            self.refresh()
            return
        for y, (a, b) in enumerate(zip(old, strips)):
            if a != b:
                self.refresh(Region(0, y, self.size.width, 1))

    def render_rows(self, items: list, width: int) -> list[list[Segment]]:
        """Segments for each screen row: laid-out rows as they are, other renderables through Rich."""
        console = self.app.console
        rows: list[list[Segment]] = []
        for item in items:
            if isinstance(item, (Row, Grid)):
                rows.extend(item.rows())
            elif isinstance(item, Text) and "\n" not in item.plain:
                rows.append(list(item.render(console, end="")))
            else:
                options = console.options.update(width=max(width, 1), height=None, no_wrap=True)
                rows.extend(console.render_lines(item, options, pad=False))
        return rows

    def render_line(self, y: int) -> Strip:
        style = self.visual_style.rich_style
        if y >= len(self.strips):
            return Strip.blank(self.size.width, style)
        return self.strips[y].apply_style(style).extend_cell_length(self.size.width, style)

    def lines(self, ctx: Context) -> list:
        raise NotImplementedError

    @staticmethod
    def formula(ctx: Context) -> tuple[str, str]:
        """Two lines for the formula bar: the current formula with live numbers, and a note on shapes."""
        raise NotImplementedError


def title(text: str, extra: str = "") -> Text:
    line = Text(text, style="bold underline", no_wrap=True)
    if extra:
        line.append(f"  {extra}", style="dim")
    return line
