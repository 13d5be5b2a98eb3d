"""The fixed panels around a family view: the header line and the shapes-and-parameters panel."""

from __future__ import annotations

from rich.text import Text

from stepper.scenario import Scenario


def header(title: str, where: str, width: int) -> Text:
    """The title on the left (cut with an ellipsis when short of room), the position on the right,
    in ``width`` cells. One Text, not a table: Textual draws it without a layout pass of Rich's."""
    line = Text(f" {title}", style="bold")
    right = Text(f" {where} ", style="bold")
    line.truncate(max(width - right.cell_len, 1), overflow="ellipsis", pad=True)
    return line + right


def position(layer: int, layers: int, kind: str, step: int, steps: int, phase: str, extra: str = "") -> str:
    """`layer 1/3 rnn · step 5/64 · bias`, steps and layers counted from 1 as people count them."""
    return f"layer {layer + 1}/{layers} {kind} · step {step + 1}/{steps} · {phase}{extra}"


def shapes(scenario: Scenario) -> Text:
    """Total parameters, the input, and each layer's shapes with its weights' sizes."""
    out = Text()
    out.append(f"total {scenario.param_count:,} params\n", style="bold")
    out.append(f"input {scenario.input_kind} {tuple(scenario.input.shape)}\n")
    for i, info in enumerate(scenario.info):
        layer = info.layer
        out.append(f"{i + 1} {layer.type} {tuple(info.input_shape)}→{tuple(info.output_shape)}\n")
        for p in layer.params():
            dims = "x".join(str(d) for d in p.shape)
            out.append(f"   {p.name} {dims} = {p.size:,}\n", style="dim")
    return out
