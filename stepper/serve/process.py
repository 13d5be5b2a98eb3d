"""A viewer process on a pseudo-terminal of its own: started, pumped, resized and ended.

Both kinds of viewer process of a lecture use it: the shared renderers (stepper.serve.screen),
whose output goes into a pyte grid, and each explorer's own process, whose output goes straight to
that student's SSH channel. Reading and writing are non-blocking, on the server's event loop;
``pause_reading`` leaves the output in the kernel, so a process whose reader is slow simply waits
on its own terminal and nobody else notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import resource
import shutil
import signal
import struct
import sys
import tempfile
import termios
from collections.abc import Callable
from pathlib import Path

READ_SIZE = 64 * 1024
INBOUND_LIMIT = 64 * 1024  # keystrokes queued for a viewer process before its client is paused
SAFE_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,64}")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# What one viewer process may hold (its data segment, heap and anonymous maps included): a viewer
# needs about 60 MB, so this is room to spare, and a runaway costs the lecturer at most this much.
MEMORY_LIMIT = 768 * 1024 * 1024


def clamp_size(width: int, height: int) -> tuple[int, int]:
    """A client's terminal size made sane: 80x24 for nonsense, and nothing absurdly large."""
    if width <= 0 or height <= 0:
        return 80, 24
    return min(width, 1000), min(height, 500)


def set_size(fd: int, width: int, height: int) -> None:
    """Set a pseudo-terminal's size; the kernel sends SIGWINCH to the process in its foreground."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def viewer_env(term: str, client_env: dict) -> dict[str, str]:
    """A viewer process's environment: built from nothing, so the server's own settings never leak.

    TERM comes from the client (so the viewer uses its colours), and COLORTERM / NO_COLOR if the
    client sent them; ``ViewerProcess.start`` adds HOME and TMPDIR, the viewer's private directory.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "TERM": term if SAFE_VALUE.fullmatch(term) else "xterm-256color"}
    for name in ("COLORTERM", "NO_COLOR"):
        value = client_env.get(name)
        if isinstance(value, str) and SAFE_VALUE.fullmatch(value):
            env[name] = value
    return env


def viewer_command(scenario_path: str, follow: str | None, role: str) -> list[str]:
    """`stepper run FILE [--follow SOCKET] --role ROLE`, via the module that first takes the terminal.

    ``-B``: a viewer writes no files, not even Python's byte-code cache.
    """
    command = [sys.executable, "-B", "-m", "stepper.serve.child", "run", scenario_path, "--role", role]
    if follow:
        command += ["--follow", follow]
    return command


class ViewerProcess:
    """One viewer process and the master side of its pseudo-terminal."""

    def __init__(self, loop: asyncio.AbstractEventLoop, rundir: str, on_output: Callable[[bytes], None],
                 on_input_backlog: Callable[[bool], None] | None = None) -> None:
        self.loop = loop
        self.rundir = rundir
        self.on_output = on_output
        self.on_input_backlog = on_input_backlog  # True: stop sending keys; False: go on
        self.master: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.workdir: str | None = None
        self.inbound = bytearray()
        self.reading = False
        self.input_paused = False
        self.released = False

    async def start(self, command: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        """Start ``command`` on a new pseudo-terminal of ``size``; OSError if that is not possible."""
        self.master, slave = os.openpty()
        try:
            set_size(slave, *size)
            os.set_blocking(self.master, False)
            self.workdir = tempfile.mkdtemp(prefix="viewer-", dir=self.rundir)
            env = {**env, "HOME": self.workdir, "TMPDIR": self.workdir, "LANG": "C.UTF-8",
                   "PYTHONIOENCODING": "utf-8", "PYTHONPATH": PACKAGE_ROOT, "PYTHONDONTWRITEBYTECODE": "1",
                   "STEPPER_MEMORY_LIMIT": str(MEMORY_LIMIT)}
            self.proc = await asyncio.create_subprocess_exec(
                *command, stdin=slave, stdout=slave, stderr=slave, cwd=self.workdir,
                start_new_session=True, env=env)
        except OSError:
            self.release()
            raise
        finally:
            os.close(slave)
        self.resume_reading()
        self.flush_inbound()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait(self) -> int:
        """Wait for the process to end; hand on what it wrote last (its goodbye) and free its terminal."""
        assert self.proc is not None
        status = await self.proc.wait()
        self.pause_reading()
        for _ in range(64):
            data = self.read()
            if not data:
                break
            self.on_output(data)
        self.release()
        return status if status >= 0 else 128 - status

    def kill(self) -> None:
        """End the process and everything it started: its whole process group."""
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def release(self) -> None:
        """Free the terminal and the private directory (the process has gone, or never started)."""
        if self.released:
            return
        self.released = True
        self.pause_reading()
        if self.master is not None:
            with contextlib.suppress(OSError, ValueError):
                self.loop.remove_writer(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)
        self.master = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                set_size(self.master, width, height)

    # --- output ----------------------------------------------------------------------------------

    def read(self) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, READ_SIZE)
        except (BlockingIOError, OSError):  # nothing yet; or EIO: the process closed its terminal
            return b""

    def _readable(self) -> None:
        data = self.read()
        if not data:
            self.pause_reading()  # the process is ending: wait() takes it from here
            return
        self.on_output(data)

    def pause_reading(self) -> None:
        if self.reading and self.master is not None:
            self.loop.remove_reader(self.master)
        self.reading = False

    def resume_reading(self) -> None:
        if not self.reading and self.master is not None and not self.released and self.proc is not None:
            self.loop.add_reader(self.master, self._readable)
            self.reading = True

    # --- input -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.inbound += data
        if len(self.inbound) > INBOUND_LIMIT and not self.input_paused:
            self.input_paused = True
            if self.on_input_backlog:
                self.on_input_backlog(True)
        self.flush_inbound()

    def flush_inbound(self) -> None:
        if self.master is None or self.released or self.proc is None:
            return
        try:
            written = os.write(self.master, self.inbound) if self.inbound else 0
        except BlockingIOError:
            written = 0
        except OSError:  # the process has gone: its keys go nowhere
            written = len(self.inbound)
        del self.inbound[:written]
        if self.inbound:
            self.loop.add_writer(self.master, self.flush_inbound)
        else:
            self.loop.remove_writer(self.master)
        if self.input_paused and len(self.inbound) <= INBOUND_LIMIT // 4:
            self.input_paused = False
            if self.on_input_backlog:
                self.on_input_backlog(False)


def apply_memory_limit() -> None:
    """In a viewer process, before anything large is loaded: cap what it may hold (see MEMORY_LIMIT)."""
    limit = os.environ.pop("STEPPER_MEMORY_LIMIT", "")
    if limit.isdigit():
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (int(limit), int(limit)))
