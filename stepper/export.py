"""`stepper export`: the TUI's screen at chosen steps, written as SVG (and plain-text) files.

One headless app, built by the same factory as `stepper run`, is moved to each chosen step and
photographed. Every flag is checked before the first file is written, and the same command writes
the same bytes: nothing on screen reads a clock, animations are off, and Rich names the SVG's
styles after a hash of what is drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console

from stepper.errors import EXIT_BAD_INPUT, StepperError
from stepper.scenario import Scenario, ScenarioError, load

COLS, ROWS = (20, 500), (6, 200)  # sane terminal sizes: wide enough for a header, small enough to view
STEP_DIGITS = 6  # at least: S000007 sorts after S000006 up to a million steps, and beyond with more digits
MAX_SHOTS = 10_000  # screens in one export: at about 0.15 s each, already a long wait
FORMATS = {"svg": ("svg",), "txt": ("txt",), "both": ("svg", "txt")}


class ExportError(StepperError):
    """A bad flag value: one line that says what is wrong and what would be right."""


@dataclass(frozen=True)
class Shot:
    """One screen to write: the global step (0-based), its layer (0-based) and the file name stem."""

    step: int
    layer: int
    name: str


# --- reading the flags ------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    """`100x30` -> (100, 30), within COLS and ROWS."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ExportError(f"--size {text!r} is not COLSxROWS: write it like 100x30")
    cols, rows = int(match[1]), int(match[2])
    if not (COLS[0] <= cols <= COLS[1] and ROWS[0] <= rows <= ROWS[1]):
        raise ExportError(f"--size {text!r} is out of bounds: columns go from {COLS[0]} to {COLS[1]}, "
                          f"rows from {ROWS[0]} to {ROWS[1]}, e.g. 100x30")
    return cols, rows


STEP = r"-?\d+"
TOKEN = re.compile(rf"(?P<one>{STEP})|(?P<start>{STEP})-(?P<end>{STEP})|(?P<all>all)")


def parse_steps(text: str, total: int) -> list[int]:
    """`0,3,10-12`, `-1` (the last), `all` -> sorted distinct 0-based step indices below `total`."""
    ranges = []  # inclusive (first, last) pairs, counted before any list is built
    for part in text.split(","):
        token = part.strip()
        match = TOKEN.fullmatch(token)
        if not match:
            what = f"{token!r} is not a step" if token else "an item is empty"
            raise ExportError(f"--steps {text!r}: {what}; use indices and ranges like 0,3,10-12, "
                              "-1 for the last step, or all")
        if match["all"]:
            ranges.append((0, total - 1))
        elif match["one"] is not None:
            k = resolve(int(match["one"]), total, text)
            ranges.append((k, k))
        else:
            start, end = resolve(int(match["start"]), total, text), resolve(int(match["end"]), total, text)
            if start > end:
                raise ExportError(f"--steps {text!r}: the range {token} runs backwards; "
                                  f"write the lower step first, e.g. {match['end']}-{match['start']}")
            ranges.append((start, end))
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    count = sum(end - start + 1 for start, end in merged)
    if count > MAX_SHOTS:
        raise ExportError(f"--steps {text!r} chooses {count:,} steps; export at most {MAX_SHOTS:,} at a time, "
                          f"e.g. 0-{MAX_SHOTS - 1}")
    return [k for start, end in merged for k in range(start, end + 1)]


def resolve(k: int, total: int, text: str) -> int:
    """A step index, negative ones counted from the end (-1 is the last), checked against `total`."""
    if not -total <= k < total:
        raise ExportError(f"--steps {text!r}: step {k} is out of range; this scenario has {total} steps, "
                          f"0 to {total - 1} (or -{total} to -1 from the end)")
    return k % total


def check_theme(theme: str | None, available: Iterable[str]) -> str | None:
    names = sorted(available)
    if theme is not None and theme not in names:
        raise ExportError(f"--theme {theme!r} is not a theme; choose one of {', '.join(names)}")
    return theme


def plan(scenario: Scenario, steps: list[int], quiz: bool = False) -> list[Shot]:
    """File names that sort in step order and say the layer (1-based) and the step (1-based, as the
    header shows it): rnn_chinese-L1-S000007 is the seventh step, in layer 1 (rnn_chinese-L1-S000007-quiz
    as a quiz question)."""
    pipeline = scenario.pipeline
    stem = Path(scenario.path).stem
    suffix = "-quiz" if quiz else ""
    layer_digits = len(str(len(pipeline.layers)))
    step_digits = max(STEP_DIGITS, len(str(len(pipeline))))
    shots = []
    for k in steps:
        layer = pipeline.locate(k).layer
        shots.append(Shot(k, layer, f"{stem}-L{layer + 1:0{layer_digits}d}-S{k + 1:0{step_digits}d}{suffix}"))
    return shots


# --- taking the pictures ----------------------------------------------------------------------


def screen_text(app) -> str:
    """The screen as plain text, one line per row, trailing blanks removed (for diffs and readers)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None,
                      force_terminal=False, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


SVG_TEXT = re.compile(r'(<text [^>]*?textLength=")([\d.]+)("[^>]*>)([^<]*)(</text>)')
SVG_ROOT = '<svg class="rich-terminal"'


def portable_svg(svg: str) -> str:
    """Rich's SVG, made to draw the same in browsers and in converters such as rsvg-convert:
    runs of spaces are kept (xml:space), and wide characters get their two cells (fix_wide_text)."""
    return fix_wide_text(svg.replace(SVG_ROOT, '<svg xml:space="preserve" class="rich-terminal"', 1))


def fix_wide_text(svg: str) -> str:
    """Give each text run the width of the cells it covers (Rich counts characters, so a CJK
    character would be squeezed into one cell: Textualize/rich#2742)."""

    def widen(m: re.Match) -> str:
        text = html.unescape(m[4])
        cells = cell_len(text)
        if cells == len(text) or not text:
            return m[0]
        per_cell = float(m[2]) / len(text)
        return f"{m[1]}{per_cell * cells:g}{m[3]}{m[4]}{m[5]}"

    return SVG_TEXT.sub(widen, svg)


async def settle(pilot) -> None:
    """Let the app finish drawing: queued messages, Markdown updates and any animation."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def photograph(scenario: Scenario, shots: list[Shot], size: tuple[int, int], theme: str | None,
                     kinds: tuple[str, ...], write: Callable[[Shot, str, str], None], quiz: bool = False) -> None:
    """Run one headless app at `size` and hand `write` each shot's file kind and contents; with
    ``quiz``, each step as the question `stepper run --quiz` asks there."""
    from stepper.tui import create_app

    app = create_app(scenario, theme=theme, quiz=quiz)
    app.animation_level = "none"
    total = len(scenario.pipeline)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for shot in shots:
            app.go(shot.step)
            await settle(pilot)
            if "svg" in kinds:
                title = f"{Path(scenario.path).name} · step {shot.step + 1}/{total}"
                write(shot, "svg", portable_svg(app.export_screenshot(title=title)))
            if "txt" in kinds:
                write(shot, "txt", screen_text(app))


def export(scenario: Scenario, out: Path, steps: list[int], size: tuple[int, int], theme: str | None = None,
           kinds: tuple[str, ...] = ("svg",), progress: Callable[[], None] | None = None,
           quiz: bool = False) -> list[Path]:
    """Write the chosen steps' screens into `out` (made if missing); return the paths in step order."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(shot: Shot, kind: str, content: str) -> None:
        path = out / f"{shot.name}.{kind}"
        path.write_bytes(content.encode("utf-8"))  # bytes: no newline translation, the same on every OS
        written.append(path)
        if progress and kind == kinds[-1]:
            progress()

    asyncio.run(photograph(scenario, plan(scenario, steps, quiz), size, theme, kinds, write, quiz))
    return written


# --- the command ------------------------------------------------------------------------------


def export_command(args: argparse.Namespace) -> int:
    """`stepper export FILE --out DIR [--steps] [--size] [--theme] [--format] [--quiz]`: 0, or 2 and one line."""
    stdout, stderr = sys.stdout, sys.stderr  # the headless app redirects these while it runs
    try:
        size = parse_size(args.size)
        scenario = load(args.file)
        from stepper.tui import create_app

        theme = check_theme(args.theme, create_app(scenario).available_themes)
        steps = parse_steps(args.steps, len(scenario.pipeline))
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ExportError(f"--out {args.out!r} is a file; name a folder (it is created if missing)")
        out.mkdir(parents=True, exist_ok=True)
    except ScenarioError as e:
        print(e, file=stderr)
        return EXIT_BAD_INPUT
    except ExportError as e:
        print(f"stepper export: {e}", file=stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"stepper export: cannot create --out {args.out!r}: {e.strerror}; name a folder you can write to",
              file=stderr)
        return EXIT_BAD_INPUT

    kinds = FORMATS[args.format]
    with progress_bar(stderr, f"exporting {Path(args.file).name}", len(steps)) as advance:
        written = export(scenario, out, steps, size, theme, kinds, advance, args.quiz)
    first, last = written[0].name, written[-1].name
    span = first if first == last else f"{first} .. {last}"
    print(f"wrote {len(written)} file{'s' if len(written) != 1 else ''} to {out}: {span}", file=stdout)
    return 0


@contextmanager
def progress_bar(file, description: str, total: int) -> Iterator[Callable[[], None] | None]:
    """A Rich progress bar on a terminal, for more than one shot; on a pipe, nothing at all.
    Yields the function that advances it, or None."""
    console = Console(file=file, stderr=True)
    if not console.is_terminal or console.is_dumb_terminal or total < 2:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # the headless app captures stdout and stderr while it runs: the bar writes to `file` itself
    with Progress(*columns, console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
