"""Shared helpers for the command-line tests: write a scenario file, run the real `stepper` command."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Result:
    """What one run of `python -m stepper ...` did: its exit status, output and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    maxrss: int  # peak resident set size of the child, in bytes


# `python -m stepper`, except that at exit the child writes its own peak resident set (VmHWM)
# where STEPPER_PEAK_FILE says. The kernel's ru_maxrss of a child also counts the memory of the
# process it was forked from (this test session, large after the browser tests), VmHWM does not.
MEASURED = """\
import atexit, os, sys

def peak():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["STEPPER_PEAK_FILE"], "w") as out:
        out.write(str(kb))

atexit.register(peak)
from stepper.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_stepper(*args: str, cwd: Path = ROOT, timeout: float = 120) -> Result:
    """Run `python -m stepper ARGS` with no terminal and measure that one child's peak memory.

    The child reports its own peak resident set (see MEASURED), so neither this test session nor
    the other processes it has started blur the number; os.wait4's figure stands in only if the
    child could not report. Output goes to temporary files, so a chatty child never blocks on a
    full pipe while we wait for it.
    """
    peak_file = tempfile.NamedTemporaryFile(prefix="stepper-peak-", delete=False)
    peak_file.close()
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8",
           "STEPPER_PEAK_FILE": peak_file.name, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", MEASURED, *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise subprocess.TimeoutExpired(proc.args, timeout)
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    try:
        with open(peak_file.name) as f:
            maxrss = int(f.read()) * 1024
    except ValueError:  # killed, or gone before it could say
        maxrss = usage.ru_maxrss * 1024
    finally:
        os.unlink(peak_file.name)
    return Result(proc.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), maxrss)


@pytest.fixture
def stepper():
    """Run the real command line: ``stepper("check", path)`` gives a Result."""
    return run_stepper


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario file (text is dedented; bytes are written as they are) and return its path."""

    def write(content: str | bytes, name: str = "scenario.yaml") -> str:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return str(path)

    return write
