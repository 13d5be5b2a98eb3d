"""A program in a pseudo-terminal, timed from outside: what a user's terminal would receive, and when.

The child gets the pty's slave as stdin, stdout, stderr and controlling terminal, TERM=xterm-256color
and its size set with TIOCSWINSZ before it starts. The parent reads the master non-blockingly and
stamps every chunk, so a repaint is measured to its last byte, not to the moment the app thinks it
is done.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass

KEYS = {"right": b"\x1b[C", "left": b"\x1b[D", "home": b"\x1b[H", "end": b"\x1b[F", "q": b"q"}
SYNC_QUERY = b"\x1b[?2026$p"  # DECRQM: does the terminal support synchronized output?
SYNC_REPLY = b"\x1b[?2026;2$y"  # yes (currently off), as kitty, WezTerm, foot or iTerm2 answer
SYNC_START, SYNC_END = b"\x1b[?2026h", b"\x1b[?2026l"  # around every frame, once the app knows


class TerminalError(Exception):
    """The program did not draw what was expected in time."""


@dataclass(frozen=True)
class Repaint:
    """One key's effect: seconds from writing the key to the last byte before quiet, the bytes, the frames."""

    key: str
    seconds: float
    nbytes: int
    frames: int


@dataclass(frozen=True)
class FirstFrame:
    """Seconds from start to the marker and to the last byte before quiet; the bytes of the first
    screen drawn whole (see ``Terminal.frame_with``), and of everything up to quiet (setup, every frame)."""

    marker_seconds: float
    settled_seconds: float
    nbytes: int
    startup_bytes: int
    startup_frames: int


class Terminal:
    """One program in a ``cols`` x ``rows`` pty; ``settle`` seconds of silence end a repaint.

    With ``sync`` the terminal answers the synchronized-output query, so a Textual app brackets
    every frame with SYNC_START/SYNC_END and frames can be told apart and counted.
    """

    def __init__(self, argv: Sequence[str], *, cols: int = 100, rows: int = 30, settle: float = 0.1,
                 cwd: str | None = None, env: dict[str, str] | None = None, sync: bool = True) -> None:
        self.argv, self.cols, self.rows, self.settle = list(argv), cols, rows, settle
        self.cwd, self.env, self.sync = cwd, env, sync
        self.seen = bytearray()  # everything read since the last key (or since the start)
        self.master = -1
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.tail = b""  # the last few kilobytes read, for marker searches

    # --- starting and stopping ---------------------------------------------------------------------

    def start(self) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        env = dict(os.environ if self.env is None else self.env)
        env.update(TERM="xterm-256color", COLUMNS=str(self.cols), LINES=str(self.rows))
        for name in ("NO_COLOR", "COLORTERM", "TEXTUAL"):
            env.pop(name, None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave, cwd=self.cwd,
                                     env=env, start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master

    def close(self, timeout: float = 5.0) -> int | None:
        """Press q, drain until the child exits, reap it; kill it (by its pid) if it will not go."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                self.write(KEYS["q"])
                deadline = time.perf_counter() + timeout
                while self.proc.poll() is None and time.perf_counter() < deadline:
                    self._read(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> Terminal:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------------------

    def _read(self, timeout: float) -> tuple[float, int]:
        """Wait up to ``timeout`` for output; return (time of the read, bytes read), 0 bytes on silence."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return time.perf_counter(), 0
        try:
            data = os.read(self.master, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return time.perf_counter(), 0
        except OSError:  # EIO: the child closed the terminal
            return time.perf_counter(), 0
        now = time.perf_counter()
        if self.sync and SYNC_QUERY in self.tail[-16:] + data:
            os.write(self.master, SYNC_REPLY)
        self.tail = (self.tail + data)[-8192:]
        self.seen += data
        return now, len(data)

    def quiet(self, first_timeout: float = 10.0) -> tuple[float, int]:
        """Wait for output to start (up to ``first_timeout``) and then to stop for ``settle`` seconds.

        Returns the time of the last byte and the bytes read; raises when nothing arrives.
        """
        deadline = time.perf_counter() + first_timeout
        last, total = 0.0, 0
        while total == 0:
            now, n = self._read(deadline - time.perf_counter())
            if n:
                last, total = now, n
            elif now >= deadline:
                raise TerminalError(f"{self.argv[-1]}: no output within {first_timeout:g} s")
        while True:
            now, n = self._read(self.settle - (time.perf_counter() - last))
            if n:
                last, total = now, total + n
            elif time.perf_counter() - last >= self.settle:
                return last, total

    def first_frame(self, marker: str, timeout: float = 30.0) -> FirstFrame:
        """Time to the read that completes ``marker``, then to quiet, and the first screen's bytes."""
        want = marker.encode()
        deadline = self.started + timeout
        total, seen = 0, None
        while seen is None:
            now, n = self._read(min(deadline - time.perf_counter(), 0.5))
            total += n
            if n and want in self.tail:
                seen = now
            elif time.perf_counter() >= deadline or (self.proc and self.proc.poll() is not None and not n):
                raise TerminalError(f"{' '.join(self.argv)}: {marker!r} not drawn within {timeout:g} s;"
                                    f" last output {self.tail[-300:]!r}")
        last = seen
        while True:
            now, n = self._read(self.settle - (time.perf_counter() - last))
            if n:
                last, total = now, total + n
            elif time.perf_counter() - last >= self.settle:
                break
        return FirstFrame(seen - self.started, last - self.started, self.frame_with(want), total,
                          self.seen.count(SYNC_END))

    def frame_with(self, marker: bytes) -> int:
        """Bytes of the largest whole-screen frame showing ``marker`` (SYNC_START to SYNC_END): the
        first screen drawn whole, once the app has drawn everything on it.

        A frame is whole when it moves the cursor to the start of every row, as Textual's full layout
        update does; an app may draw a whole frame before its content has arrived, so the largest
        counts. When no frame showing the marker moves to every row, the largest frame showing it;
        without frame brackets (no sync), everything read up to quiet."""
        showing = [frame for frame in frames(bytes(self.seen)) if marker in frame]
        whole = [len(f) for f in showing if all(b"\x1b[%d;1H" % (y + 1) in f for y in range(self.rows))]
        return max(whole or [len(f) for f in showing] or [len(self.seen)])

    def wait_quiet(self, seconds: float) -> int:
        """Read until ``seconds`` pass without output (start-up work that came late); return the bytes."""
        total, last = 0, time.perf_counter()
        while True:
            now, n = self._read(seconds - (time.perf_counter() - last))
            if n:
                last, total = now, total + n
            elif time.perf_counter() - last >= seconds:
                return total

    # --- writing -------------------------------------------------------------------------------------

    def write(self, data: bytes) -> float:
        os.write(self.master, data)
        return time.perf_counter()

    def press(self, key: str, timeout: float = 10.0) -> Repaint:
        """Write ``key``'s escape sequence; its repaint ends at the last byte before ``settle`` of quiet."""
        self.seen.clear()
        sent = self.write(KEYS[key])
        last, total = self.quiet(timeout)
        return Repaint(key, last - sent, total, self.seen.count(SYNC_END))


def frames(data: bytes) -> list[bytes]:
    """Every SYNC_START ... SYNC_END frame in ``data``, brackets included."""
    out, at = [], 0
    while (begin := data.find(SYNC_START, at)) >= 0 and (end := data.find(SYNC_END, begin)) >= 0:
        out.append(data[begin:end + len(SYNC_END)])
        at = end + len(SYNC_END)
    return out


def _take_terminal() -> None:
    """In the child, after setsid: make the pty on stdin the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
