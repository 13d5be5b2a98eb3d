"""Which view draws which layer, and the compare view that puts layers side by side."""

from __future__ import annotations

from dataclasses import replace

from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from stepper.engine import Layer, Pipeline
from stepper.layers import kind_of
from stepper.tui.base import Context, FamilyView, title


def view_class(layer: Layer) -> type[FamilyView]:
    """The view ``layer``'s type declares; its module (and its engine) is imported when first shown."""
    return kind_of(layer).view_class()


def view_for(layer: Layer) -> FamilyView:
    return view_class(layer)()


class CompareView(Horizontal):
    """Layers given the same input, side by side; the one not being stepped follows at the same
    stage (its step is the proportional one, so both show the same statistic or region)."""

    DEFAULT_CSS = """
    CompareView { height: 1fr; }
    CompareView > .member { width: 1fr; height: 1fr; padding-right: 1; }
    CompareView > .member > Static.member-title { height: 1; }
    """

    def __init__(self, members: list[int], layers: list[Layer]) -> None:
        super().__init__()
        self.members, self.member_layers = members, layers

    def compose(self):
        for layer in self.member_layers:
            with Vertical(classes="member"):
                yield Static(classes="member-title")
                yield view_for(layer)

    def show(self, ctx: Context, pipeline: Pipeline) -> None:
        active = ctx.layer
        local = ctx.step.index
        share = len(pipeline.traces[active])
        width = max((ctx.width - len(self.members)) // len(self.members), 10)
        for box, i in zip(self.query(".member"), self.members):
            if not box.children:  # not composed yet: the next redraw fills it in
                continue
            trace = pipeline.traces[i]
            k = local if i == active else min(local * len(trace) // max(share, 1), len(trace) - 1)
            step = trace[k]
            sub = replace(ctx, layer=i, step=step, active=i == active, width=width, height=ctx.height - 1)
            mark = "▶ stepping" if i == active else "same stage"
            box.query_one(".member-title", Static).update(title(f"{pipeline.layers[i].type}", mark))
            box.query_one(FamilyView).show(sub)
