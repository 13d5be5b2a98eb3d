"""stepper's performance benchmark: stepper against a floor app, in the same run, through a real pty.

    uv run python benchmarks/run.py            # 5 runs, about 5 minutes; writes docs/performance.md
    uv run python benchmarks/run.py --quick    # 2 short runs, about a minute

What it measures and why is in docs/performance.md; the results block there is rewritten by each run.
Exit status: 0 when every target passes, 1 when one does not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import report
import scenarios
from engine_bench import TraceRun, trace_json
from tui_bench import drive, floor_command, start_up, stepper_command, sweep_keys, walk_keys

DOC = scenarios.ROOT / "docs" / "performance.md"
PYCACHE = Path(tempfile.gettempdir()) / "stepper-bench-pycache"
DEPENDENCIES = ("numpy", "numpy.random", "yaml")  # what stepper must import before its first frame, besides Textual
LARGE = 128
SMALL = 64


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def child_env(cold: bool, folder: Path) -> dict[str, str]:
    """The environment every measured program gets.

    Warm (the default): bytecode is cached, in a folder of the benchmark's own, as on any machine
    where Python may write its caches; the warm-up start fills it. Cold: caches are read from an
    empty folder and never written, so each start compiles every module it imports."""
    env = dict(os.environ)
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(folder / "no-pycache")  # made by nobody: nothing to read
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


# stepper's first frame counts once the RNN view itself is drawn (a row label of the view, which
# comes after the header), not merely the header's "step 1/20".
RNN_VIEW = "h_{t-1} W"


def one_run(conv: Path, args: argparse.Namespace) -> report.Run:
    """The floor and stepper, each on the small scenario and then on the large convolution."""
    n, big = scenarios.RNN_STEPS, scenarios.conv_steps(LARGE)
    keys = sweep_keys(n, args.sweeps, args.jumps)
    conv_keys = walk_keys(args.walk, args.jumps)
    common = dict(settle=args.settle, cwd=scenarios.ROOT, env=args.env)
    floor = drive("floor", floor_command(n), f"step 1/{n}", keys, **common)
    rnn = drive("stepper rnn_chinese", stepper_command(scenarios.RNN), RNN_VIEW, keys, **common)
    floor_large = drive("floor large", floor_command(big), f"step 1/{big}", conv_keys, **common)
    conv_session = drive("stepper conv", stepper_command(conv), f"step 1/{big}", conv_keys, **common)
    floor_starts, rnn_starts, deps_starts = [], [], []
    for _ in range(args.starts):
        floor_starts.append(start_up(floor_command(n), f"step 1/{n}", **common))
        rnn_starts.append(start_up(stepper_command(scenarios.RNN), RNN_VIEW, **common))
        deps_starts.append(start_up(floor_command(n, *DEPENDENCIES), f"step 1/{n}", **common))
    return report.Run(floor, rnn, floor_large, conv_session, tuple(floor_starts), tuple(rnn_starts),
                      tuple(deps_starts))


def warm_up(args: argparse.Namespace) -> None:
    """Start each app once, unmeasured, so every run finds the same warm caches."""
    n = scenarios.RNN_STEPS
    for argv in (floor_command(n), stepper_command(scenarios.RNN), floor_command(n, *DEPENDENCIES)):
        start_up(argv, f"step 1/{n}", settle=args.settle, cwd=scenarios.ROOT, env=args.env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark stepper's TUI against a floor Textual app.")
    parser.add_argument("--quick", action="store_true", help="2 runs, fewer keys, 1 trace per size")
    parser.add_argument("--runs", type=int, help="repetitions of the TUI benchmark (default 5, quick 2)")
    parser.add_argument("--settle", type=float, default=0.1, help="seconds of quiet that end a repaint (0.1)")
    parser.add_argument("--out", type=Path, default=DOC, help="the Markdown file to write (docs/performance.md)")
    parser.add_argument("--no-write", action="store_true", help="print the results, leave the file alone")
    parser.add_argument("--note", action="append", default=[], help="a line for the machine notes")
    parser.add_argument("--tui-only", action="store_true", help="skip `trace --json` (for trying a change)")
    parser.add_argument("--cold", action="store_true", help="no bytecode caches: every start compiles its imports")
    args = parser.parse_args(argv)
    args.runs = args.runs or (2 if args.quick else 5)
    args.sweeps, args.jumps, args.walk, args.starts = (1, 2, 5, 1) if args.quick else (2, 3, 10, 4)
    traces = 1 if args.quick else 3
    command = "uv run python benchmarks/run.py" + (" --quick" if args.quick else "") + (" --cold" if args.cold else "")

    with tempfile.TemporaryDirectory(prefix="stepper-bench-") as tmp:
        folder = Path(tmp)
        args.env = child_env(args.cold, folder)
        conv = scenarios.write_conv(folder, LARGE)
        warm_up(args)
        runs = []
        for i in range(args.runs):
            say(f"run {i + 1}/{args.runs}: floor and stepper through a 100x30 pty")
            runs.append(one_run(conv, args))
        engine: dict[int, list[TraceRun]] = {}
        for n in () if args.tui_only else (SMALL, LARGE):
            path = scenarios.write_conv(folder, n)
            for i in range(traces):
                say(f"trace --json {n}x{n}: {i + 1}/{traces}")
                engine.setdefault(n, []).append(trace_json(path, scenarios.ROOT, args.env))

    caches = ("none: PYTHONDONTWRITEBYTECODE=1 and an empty PYTHONPYCACHEPREFIX, every start compiles"
              " what it imports" if args.cold else
              f"warm: PYTHONPYCACHEPREFIX={PYCACHE}, filled by an unmeasured first start of each app")
    block = report.results(runs, engine, command, args.settle, [f"bytecode caches {caches}", *args.note])
    if args.no_write:
        print(block)
    else:
        report.write(args.out, block)
        say(f"wrote {args.out}")
        print(block)
    return 0 if all(f.passed for f in report.figures(runs, engine)) else 1


if __name__ == "__main__":
    sys.exit(main())
