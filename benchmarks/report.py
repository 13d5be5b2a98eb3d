"""From measured runs to the figures, the targets and the tables of docs/performance.md."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from statistics import median

from engine_bench import TraceRun
from terminal import FirstFrame
from tui_bench import Session

START, END = "<!-- results:start -->", "<!-- results:end -->"
STEP_KEYS = ("right", "left")


@dataclass(frozen=True)
class Run:
    """One repetition: the floor and stepper on the small scenario, then both on the large one;
    the ``*_starts`` hold further start-ups of the floor, of stepper on rnn_chinese and of the floor
    importing stepper's dependencies, in turn."""

    floor: Session
    rnn: Session
    floor_large: Session
    conv: Session
    floor_starts: tuple[FirstFrame, ...] = ()
    rnn_starts: tuple[FirstFrame, ...] = ()
    deps_starts: tuple[FirstFrame, ...] = ()  # the floor importing numpy, numpy.random and yaml first

    def startup(self, app: str, quiet: bool = False) -> float:
        """Median seconds to the marker (or to quiet) over this run's start-ups of ``app`` ("floor" or "rnn")."""
        session, extra = (self.floor, self.floor_starts) if app == "floor" else (self.rnn, self.rnn_starts)
        return median(f.settled_seconds if quiet else f.marker_seconds for f in (session.first, *extra))


@dataclass(frozen=True)
class Figure:
    """One row of the results table: a measured value against its reference, and the target on the ratio."""

    name: str
    value: float
    reference: float | None
    unit: str
    reference_name: str
    limit: float
    ratio_target: bool = True  # False: the target is on the value itself (peak memory)

    @property
    def ratio(self) -> float | None:
        return self.value / self.reference if self.reference else None

    @property
    def passed(self) -> bool:
        return (self.ratio if self.ratio_target else self.value) <= self.limit

    def row(self) -> str:
        ref = f"{self.reference_name} {show(self.reference, self.unit)}" if self.reference is not None else "-"
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        target = f"<= {self.limit:g}x" if self.ratio_target else f"<= {self.limit:g} {self.unit}"
        if self.unit == "B" and self.ratio_target:
            target = f"<= {self.limit:.0%}"
            ratio = f"{self.ratio:.0%}"
        return (f"| {self.name} | {show(self.value, self.unit)} | {ref} | {ratio} | {target} | "
                f"{'pass' if self.passed else '**FAIL**'} |")


def show(value: float | None, unit: str) -> str:
    if value is None or value != value:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "":
        return f"{value:.2f}"
    return f"{value:.1f} {unit}"


def across(runs: Sequence[Run], measure: Callable[[Run], float]) -> float:
    """The median over runs of a per-run figure (itself a median over keys): a median of medians."""
    values = [v for v in map(measure, runs) if v == v]  # a run with nothing to measure gives nan
    return median(values) if values else float("nan")


def figures(runs: Sequence[Run], engine: dict[int, list[TraceRun]]) -> list[Figure]:
    """The six targets of the performance issue, in its order (the last two only with engine runs)."""
    tui = [
        Figure("startup to first frame, `stepper run scenarios/rnn_chinese.yaml`",
               across(runs, lambda r: r.startup("rnn")), across(runs, lambda r: r.startup("floor")),
               "ms", "floor", 1.5),
        Figure("median key-to-repaint latency on rnn_chinese (Right/Left)",
               across(runs, lambda r: r.rnn.latency(*STEP_KEYS)), across(runs, lambda r: r.floor.latency(*STEP_KEYS)),
               "ms", "floor", 5),
        Figure("median bytes per step on rnn_chinese",
               across(runs, lambda r: r.rnn.nbytes(*STEP_KEYS)), across(runs, lambda r: r.rnn.first.nbytes),
               "B", "its first frame", 0.5),
        Figure("End on the large convolution (3x128x128 -> 8 channels)",
               across(runs, lambda r: r.conv.latency("end")), across(runs, lambda r: r.conv.latency(*STEP_KEYS)),
               "ms", "one Right/Left step", 3),
    ]
    if not engine:
        return tui
    small, large = engine[min(engine)], engine[max(engine)]
    return tui + [
        Figure(f"`trace --json` time, {max(engine)}x{max(engine)} vs {min(engine)}x{min(engine)} (4x positions)",
               median(t.seconds for t in large), median(t.seconds for t in small), "s", f"{min(engine)}x{min(engine)}", 5),
        Figure(f"`trace --json` peak memory on {max(engine)}x{max(engine)}",
               median(t.peak_mb for t in large), None, "MB", "", 400, ratio_target=False),
    ]


def details(runs: Sequence[Run], engine: dict[int, list[TraceRun]]) -> list[str]:
    """Every measured median, stepper beside the floor, for reading the targets in context."""
    def pair(name: str, unit: str, ours: Callable[[Run], float], floor: Callable[[Run], float] | None) -> str:
        a = across(runs, ours)
        b = across(runs, floor) if floor else None
        ratio = f"{a / b:.2f}x" if b and a == a and b == b else "-"
        return f"| {name} | {show(a, unit)} | {show(b, unit)} | {ratio} |"

    rows = [
        "| measure (median of run medians) | stepper | floor | ratio |",
        "| --- | ---: | ---: | ---: |",
        pair("rnn_chinese: start to the view drawn (stepper `h_{t-1} W`, floor `step 1/20`)", "ms", lambda r: r.startup("rnn"),
             lambda r: r.startup("floor")),
        pair("floor importing numpy, numpy.random and yaml first: start to the marker", "ms",
             lambda r: median(f.marker_seconds for f in r.deps_starts) if r.deps_starts else float("nan"),
             lambda r: r.startup("floor")),
        pair("rnn_chinese: start to quiet (the first screen's last byte)", "ms",
             lambda r: r.startup("rnn", quiet=True), lambda r: r.startup("floor", quiet=True)),
        pair("rnn_chinese: first whole-screen frame, bytes", "B",
             lambda r: r.rnn.first.nbytes, lambda r: r.floor.first.nbytes),
        pair("rnn_chinese: everything to quiet at start-up, bytes", "B",
             lambda r: r.rnn.first.startup_bytes, lambda r: r.floor.first.startup_bytes),
        pair("rnn_chinese: frames to quiet at start-up", "",
             lambda r: r.rnn.first.startup_frames, lambda r: r.floor.first.startup_frames),
        pair("rnn_chinese: Right", "ms", lambda r: r.rnn.latency("right"), lambda r: r.floor.latency("right")),
        pair("rnn_chinese: Left", "ms", lambda r: r.rnn.latency("left"), lambda r: r.floor.latency("left")),
        pair("rnn_chinese: slowest Right/Left (run median)", "ms",
             lambda r: max(x.seconds for x in r.rnn.of(*STEP_KEYS)),
             lambda r: max(x.seconds for x in r.floor.of(*STEP_KEYS))),
        pair("rnn_chinese: bytes per Right/Left", "B",
             lambda r: r.rnn.nbytes(*STEP_KEYS), lambda r: r.floor.nbytes(*STEP_KEYS)),
        pair("rnn_chinese: frames per Right/Left (mean)", "",
             lambda r: r.rnn.frames(*STEP_KEYS), lambda r: r.floor.frames(*STEP_KEYS)),
        pair("rnn_chinese: Right/Left that drew one frame, median latency", "ms",
             lambda r: r.rnn.latency(*STEP_KEYS, single=True), lambda r: r.floor.latency(*STEP_KEYS, single=True)),
        pair("rnn_chinese: Right/Left that drew more than one frame, median latency", "ms",
             lambda r: r.rnn.latency(*STEP_KEYS, single=False), None),
        pair("rnn_chinese: End", "ms", lambda r: r.rnn.latency("end"), lambda r: r.floor.latency("end")),
        pair("rnn_chinese: Home", "ms", lambda r: r.rnn.latency("home"), lambda r: r.floor.latency("home")),
        pair("large conv: start to the `step 1/131072` marker", "ms",
             lambda r: r.conv.first.marker_seconds, lambda r: r.floor_large.first.marker_seconds),
        pair("large conv: everything to quiet at start-up, bytes", "B",
             lambda r: r.conv.first.startup_bytes, lambda r: r.floor_large.first.startup_bytes),
        pair("large conv: Right/Left", "ms",
             lambda r: r.conv.latency(*STEP_KEYS), lambda r: r.floor_large.latency(*STEP_KEYS)),
        pair("large conv: End", "ms", lambda r: r.conv.latency("end"), lambda r: r.floor_large.latency("end")),
        pair("large conv: Home", "ms", lambda r: r.conv.latency("home"), lambda r: r.floor_large.latency("home")),
        pair("large conv: bytes per Right/Left", "B",
             lambda r: r.conv.nbytes(*STEP_KEYS), lambda r: r.floor_large.nbytes(*STEP_KEYS)),
        pair("large conv: bytes for End", "B", lambda r: r.conv.nbytes("end"), lambda r: r.floor_large.nbytes("end")),
    ]
    if not engine:
        return rows
    rows += ["", "| `trace --json` | runs | time (median, min-max) | peak memory (median, max) |",
             "| --- | ---: | ---: | ---: |"]
    for n, runs_n in sorted(engine.items()):
        secs = [t.seconds for t in runs_n]
        mbs = [t.peak_mb for t in runs_n]
        rows.append(f"| conv2d 3x{n}x{n} -> 8x{n}x{n} ({8 * n * n:,} steps) | {len(runs_n)} | "
                    f"{median(secs):.2f} s ({min(secs):.2f}-{max(secs):.2f}) | {median(mbs):.0f} MB ({max(mbs):.0f}) |")
    return rows


def per_run(runs: Sequence[Run]) -> list[str]:
    """Each repetition's own medians, so the noise between runs is visible."""
    rows = ["| run | startup stepper / floor | step stepper / floor | bytes/step / first frame | "
            "conv Right | conv End | End / Right |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for i, r in enumerate(runs, 1):
        s, f = r.startup("rnn"), r.startup("floor")
        a, b = r.rnn.latency(*STEP_KEYS), r.floor.latency(*STEP_KEYS)
        nb, ff = r.rnn.nbytes(*STEP_KEYS), r.rnn.first.nbytes
        cr, ce = r.conv.latency(*STEP_KEYS), r.conv.latency("end")
        rows.append(f"| {i} | {show(s, 'ms')} / {show(f, 'ms')} ({s / f:.2f}x) | {show(a, 'ms')} / {show(b, 'ms')} "
                    f"({a / b:.1f}x) | {nb:,.0f} / {ff:,} ({nb / ff:.0%}) | {show(cr, 'ms')} | {show(ce, 'ms')} | "
                    f"{ce / cr:.2f}x |")
    return rows


def machine() -> list[str]:
    load = os.getloadavg()
    return [f"- date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- machine: {platform.system()} {platform.release()} {platform.machine()}, nproc {os.cpu_count()}, "
            f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min, at the end)",
            f"- Python {platform.python_version()}, Textual {version('textual')}, Rich {version('rich')}, "
            f"NumPy {version('numpy')}"]


def results(runs: Sequence[Run], engine: dict[int, list[TraceRun]], command: str, settle: float,
            notes: Sequence[str] = ()) -> str:
    figs = figures(runs, engine)
    passed = sum(f.passed for f in figs)
    keys = runs[0].rnn.repaints
    lines = [START, "", f"Command: `{command}`", "", *machine(),
             f"- {len(runs)} runs; per run on rnn_chinese {sum(r.key in STEP_KEYS for r in keys)} Right/Left keys"
             f" and {sum(r.key in ('end', 'home') for r in keys)} End/Home; {len(runs[0].conv.of(*STEP_KEYS))}"
             f" Right/Left and {len(runs[0].conv.of('end', 'home'))} End/Home on the large convolution;"
             f" `trace --json` {len(engine[min(engine)]) if engine else 0} times per size",
             f"- settle window {settle * 1000:.0f} ms (a repaint ends at the last byte before this much quiet;"
             " nothing subtracted), 100x30 pty, TERM=xterm-256color",
             *(f"- {n}" for n in notes), "",
             f"### Targets: {passed} of {len(figs)} pass", "",
             "| figure | stepper | reference | ratio | target | result |",
             "| --- | ---: | ---: | ---: | ---: | --- |",
             *(f.row() for f in figs), "",
             "### Every median", "", *details(runs, engine), "",
             "### Each run", "", *per_run(runs), "", END]
    return "\n".join(lines)


def write(doc: Path, block: str) -> None:
    """Replace the results block of ``doc`` (or append one), leaving the prose around it alone."""
    text = doc.read_text() if doc.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    doc.write_text(text)

