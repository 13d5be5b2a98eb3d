"""Engine scaling: `stepper trace FILE --json` wall time and peak memory, the output thrown away."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TraceRun:
    """One `trace --json` process: seconds from start to exit, and its peak resident memory."""

    seconds: float
    peak_mb: float


def trace_json(scenario: Path, cwd: Path, env: dict[str, str] | None = None) -> TraceRun:
    """Run `python -m stepper trace FILE --json > /dev/null`; peak RSS from wait4's rusage of that child."""
    argv = [sys.executable, "-m", "stepper", "trace", str(scenario), "--json"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")  # until the child exits and closes it
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}: {err.strip()[-500:]}")
    return TraceRun(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
