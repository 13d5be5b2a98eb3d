"""One TUI session, driven through a pty: its first frame, then a list of keys, each timed to its last byte."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median

from terminal import FirstFrame, Repaint, Terminal, TerminalError

FLOOR_APP = Path(__file__).resolve().parent / "floor_app.py"
QUIET_BEFORE_KEYS = 0.5  # seconds of silence after start-up before the first key is pressed


def floor_command(steps: int, *imports: str) -> list[str]:
    return [sys.executable, str(FLOOR_APP), str(steps), *imports]


def stepper_command(scenario: Path) -> list[str]:
    """`stepper run SCENARIO`, through the console script installed beside this Python (as a user
    types it); ``python -m stepper`` where there is none."""
    script = Path(sys.executable).parent / "stepper"
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "stepper"]
    return [*launcher, "run", str(scenario)]


def sweep_keys(steps: int, sweeps: int, jumps: int) -> list[str]:
    """Right to the last step and Left back to the first, ``sweeps`` times; then End/Home ``jumps`` times.

    A sweep visits every step in both directions, so the medians weigh every phase of the layer.
    """
    return (["right"] * (steps - 1) + ["left"] * (steps - 1)) * sweeps + ["end", "home"] * jumps


def walk_keys(count: int, jumps: int) -> list[str]:
    """``count`` Right steps and as many Left steps back, then End/Home ``jumps`` times."""
    return ["right"] * count + ["left"] * count + ["end", "home"] * jumps


@dataclass(frozen=True)
class Session:
    """What one run of one app measured."""

    name: str
    first: FirstFrame
    repaints: tuple[Repaint, ...]
    exit_code: int | None

    def of(self, *keys: str, single: bool | None = None) -> list[Repaint]:
        """The repaints of ``keys``; with ``single`` only those that drew one frame (True) or more (False)."""
        return [r for r in self.repaints if r.key in keys and (single is None or (r.frames == 1) == single)]

    def latency(self, *keys: str, single: bool | None = None) -> float:
        """Median seconds from key to the repaint's last byte, over ``keys`` (nan when there are none)."""
        chosen = [r.seconds for r in self.of(*keys, single=single)]
        return median(chosen) if chosen else float("nan")

    def frames(self, *keys: str) -> float:
        """Mean frames drawn per key."""
        return mean(r.frames for r in self.of(*keys))

    def nbytes(self, *keys: str) -> float:
        return median(r.nbytes for r in self.of(*keys))


def start_up(argv: list[str], marker: str, *, settle: float, cwd: Path, env: dict[str, str] | None = None) -> FirstFrame:
    """Start ``argv``, wait for its first frame, quit."""
    return drive("start-up", argv, marker, [], settle=settle, cwd=cwd, env=env).first


def drive(name: str, argv: list[str], marker: str, keys: list[str], *, settle: float,
          cwd: Path, env: dict[str, str] | None = None, cols: int = 100, rows: int = 30) -> Session:
    """Start ``argv``, wait for ``marker`` and quiet, press ``keys`` one at a time, quit with q."""
    term = Terminal(argv, cols=cols, rows=rows, settle=settle, cwd=str(cwd), env=env)
    term.start()
    try:
        first = term.first_frame(marker)
        if keys:
            term.wait_quiet(QUIET_BEFORE_KEYS)  # so no late start-up frame is counted as a key's
        repaints = tuple(term.press(key) for key in keys)
    finally:
        code = term.close()
    if code != 0:
        raise TerminalError(f"{' '.join(argv)} exited with {code}; last output {term.tail[-300:]!r}")
    return Session(name, first, repaints, code)
