"""Headless output: the one-line `check` summary, `trace --json` lines and the readable trace tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from stepper.engine import Step, Trace
from stepper.layers import kind_of
from stepper.scenario import Scenario
from stepper.yamlread import shape_text

TABLE_ROWS = 1000  # a long trace is printed as several tables of this many rows, never built whole


def summary(scenario: Scenario) -> str:
    """`path: title | text (5, 256) -> rnn (5, 128) | 49,280 parameters, 20 steps`."""
    parts = [f"{scenario.input_kind} {shape_text(scenario.input.shape)}"]
    i = 0
    for stage in scenario.stages:
        shown = [f"{layer.type} {shape_text(scenario.info[i + j].output_shape)}" for j, layer in enumerate(stage)]
        parts.append(shown[0] if len(shown) == 1 else "compare(" + " | ".join(shown) + ")")
        i += len(stage)
    return (f"{scenario.path}: {scenario.title} | " + " -> ".join(parts) +
            f" | {scenario.param_count:,} parameters, {scenario.step_count:,} steps")


def plain(value: Any) -> Any:
    """NumPy values as JSON-ready Python values (floats keep full precision)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def step_record(layer: int, trace: Trace, step: Step, start: int) -> dict[str, Any]:
    """One step's line: where it is (`step` from 1 within the layer, and its type's places such as
    `t`), its formula and its values; conditions read the same names."""
    return {
        "event": "step", "layer": layer, "type": trace.layer.type, "index": step.index,
        "global": start + step.index, "step": step.index + 1, **kind_of(trace.layer).places(step),
        "phase": step.phase, "unit": step.unit, "formula": step.formula,
        "highlight": {k: plain(v) for k, v in step.highlight.items()},
        "values": {k: plain(v) for k, v in step.values.items()}, "result": step.result, "done": step.done,
    }


def output_record(layer: int, trace: Trace) -> dict[str, Any]:
    """The layer's whole output, and what its type's declaration says the line carries besides."""
    record = {"event": "output", "layer": layer, "type": trace.layer.type,
              "shape": list(trace.output.shape), "output": trace.output.tolist()}
    record.update((key, plain(value)) for key, value in kind_of(trace.layer).carries(trace).items())
    return record


def records(scenario: Scenario) -> Iterator[dict[str, Any]]:
    """Every step of every layer, then its output: streamed, one record at a time. A step where a
    breakpoint of the file fires is marked `"break": true`."""
    pipeline = scenario.pipeline
    for i, trace in enumerate(pipeline.traces):
        start = pipeline.start(i)
        kind, marks = kind_of(trace.layer), scenario.info[i].stops.breakpoints
        for step in trace:
            record = step_record(i, trace, step, start)
            if marks and marks.holds(kind, step):
                record["break"] = True
            yield record
        yield output_record(i, trace)


def write_json(scenario: Scenario, out: TextIO) -> None:
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    for record in records(scenario):
        out.write(dumps(record))
        out.write("\n")


def short(value: Any, width: int = 4) -> str:
    """A value in a table cell: a number, or the first few numbers of an array and its shape."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.4g}"
    flat = arr.ravel()
    head = ", ".join(f"{v:.4g}" for v in flat[:width])
    more = ", ..." if flat.size > width else ""
    return f"[{head}{more}] {shape_text(arr.shape)}" if arr.ndim > 1 or flat.size > width else f"[{head}]"


def where(step: Step, labels: tuple[str, ...]) -> str:
    h = step.highlight
    if "t" in h:
        return f"t={h['t'] + 1}" + (f" {labels[h['t']]}" if labels else "")
    if "out" in h:
        return f"ch {h['channel']} ({h['out'][0]}, {h['out'][1]})"
    if "group" in h:
        return f"{h['axis']} {h['group']}"
    return str(tuple(h["element"]))


def write_tables(scenario: Scenario) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    pipeline = scenario.pipeline
    console.print(f"[bold]{escape(scenario.title)}[/]")
    for i, trace in enumerate(pipeline.traces):
        info = scenario.info[i]
        name = (f"layer {i + 1}: {trace.layer.type} {shape_text(info.input_shape)} -> "
                f"{shape_text(info.output_shape)}, {trace.layer.param_count:,} parameters")
        for first in range(0, len(trace), TABLE_ROWS):
            last = min(first + TABLE_ROWS, len(trace))
            part = "" if len(trace) <= TABLE_ROWS else f" (steps {first}-{last - 1} of {len(trace)})"
            table = Table(title=name + part, title_justify="left")
            for col in ("step", "phase", "where", "formula", "result"):
                table.add_column(col, overflow="fold")
            for k in range(first, last):
                step = trace[k]
                cells = (str(k), step.phase, where(step, pipeline.labels[i]), step.formula,
                         short(step.values[step.result]))
                table.add_row(*map(escape, cells))  # y[i,j] is a formula, not Rich markup
            console.print(table)
        console.print(f"output {shape_text(trace.output.shape)}: {short(trace.output, 8)}\n")
