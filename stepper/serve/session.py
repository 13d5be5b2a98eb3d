"""One viewer: an SSH session whose terminal is a pseudo-terminal running a stepper viewer process.

Bytes are pumped both ways with non-blocking I/O on the server's event loop. Each direction is
bounded: output stops being read from the pseudo-terminal while more than ``outbound_limit`` bytes
wait for the client (the viewer process then waits on its own terminal, and nobody else notices),
and a client that stays stalled past ``stall_timeout`` is disconnected; input beyond ``INBOUND_LIMIT`` pauses the
SSH channel, which stops the client through SSH flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

if TYPE_CHECKING:
    from stepper.serve.lecture import Lecture

INBOUND_LIMIT = 64 * 1024  # keystrokes queued for a viewer process before the client is paused
READ_SIZE = 64 * 1024
HANG_UP_AFTER = 3.0  # seconds a client gets to hang up by itself after its session has ended
SAFE_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,64}")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

# Leave the client's terminal usable when we end a viewer that could not tidy up itself: cancel any
# half-sent escape sequence, reset colours, leave the alternate screen, show the cursor, stop mouse
# reports, bracketed paste, focus events and the kitty keyboard protocol.
RESTORE = (b"\x18\x1b[0m\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
           b"\x1b[?1015l\x1b[?2004l\x1b[?1004l\x1b[<u\r\n")


def printable(text: str, limit: int = 32) -> str:
    """A client-chosen string made safe for the lecturer's terminal: no escape sequences, not too long."""
    clean = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])
    return clean + ("..." if len(text) > limit else "")


def duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


def clamp_size(width: int, height: int) -> tuple[int, int]:
    """A client's terminal size made sane: 80x24 for nonsense, and nothing absurdly large."""
    if width <= 0 or height <= 0:
        return 80, 24
    return min(width, 1000), min(height, 500)


def set_size(fd: int, width: int, height: int) -> None:
    """Set a pseudo-terminal's size; the kernel sends SIGWINCH to the process in its foreground."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def viewer_env(term: str, client_env: dict, home: str) -> dict[str, str]:
    """The viewer process's environment: built from nothing, so the server's own settings never leak.

    TERM comes from the client (so the viewer uses its colours), and COLORTERM / NO_COLOR if the
    client sent them; HOME and TMPDIR point into the viewer's private directory.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "TERM": term if SAFE_VALUE.fullmatch(term) else "xterm-256color",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONPATH": PACKAGE_ROOT,
    }
    for name in ("COLORTERM", "NO_COLOR"):
        value = client_env.get(name)
        if isinstance(value, str) and SAFE_VALUE.fullmatch(value):
            env[name] = value
    return env


def viewer_command(scenario_path: str, follow: str | None) -> list[str]:
    """`stepper run FILE [--follow SOCKET]`, via the module that first takes the terminal as its own."""
    command = [sys.executable, "-m", "stepper.serve.child", "run", scenario_path]
    if follow:
        command += ["--follow", follow]
    return command


class ViewerSession(asyncssh.SSHServerSession):
    """A shell session with a pty: one viewer process, its screen pumped to the client."""

    def __init__(self, lecture: Lecture, label: str) -> None:
        self.lecture = lecture
        self.label = label  # who, for the server's log: "alice@127.0.0.1"
        self.loop = lecture.loop
        self.chan: asyncssh.SSHServerChannel | None = None
        self.master: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.workdir: str | None = None
        self.inbound = bytearray()
        self.reading = False  # is the pty's output being read?
        self.input_paused = False
        self.stalled_since: float | None = None
        self.last_activity = time.monotonic()
        self.closed = False  # the SSH channel is gone
        self.released = False
        self.watchdog: asyncio.TimerHandle | None = None

    # --- what the client may ask for ----------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self.chan = chan
        chan.set_write_buffer_limits(high=self.lecture.config.outbound_limit)

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return False  # no commands: only the stepper screen

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # no SFTP, no anything

    def break_received(self, msec: int) -> bool:
        return False

    def eof_received(self) -> bool:
        return True  # the client closed its input; the viewer keeps watching

    def session_started(self) -> None:
        self.loop.create_task(self.start())

    # --- starting and ending the viewer process -------------------------------------------------

    def refuse(self, message: str, status: int = 1) -> None:
        """Tell the client why there is no screen for them, and end the session."""
        if self.chan is not None and not self.closed:
            with contextlib.suppress(OSError):
                self.chan.write(message.encode() + b"\r\n")
                self.chan.exit(status)
            self.hang_up_later()

    async def start(self) -> None:
        if self.closed or self.chan is None:  # the client left before its session began
            return
        term = self.chan.get_terminal_type()
        if term is None:
            self.refuse("stepper serve shows a full-screen lecture and needs a terminal: "
                        "connect with `ssh -t`, without a command.")
            return
        if not self.lecture.admit(self):
            self.refuse(f"Sorry, this lecture is full ({self.lecture.config.max_viewers} viewers). "
                        "Try again in a little while.")
            return
        width, height = clamp_size(*self.chan.get_terminal_size()[:2])
        self.master, slave = os.openpty()
        try:
            set_size(slave, width, height)
            os.set_blocking(self.master, False)
            self.workdir = tempfile.mkdtemp(prefix="viewer-", dir=self.lecture.rundir)
            self.proc = await asyncio.create_subprocess_exec(
                *viewer_command(self.lecture.scenario_path, self.lecture.feed_path),
                stdin=slave, stdout=slave, stderr=slave, cwd=self.workdir, start_new_session=True,
                env=viewer_env(term, dict(self.chan.get_environment()), self.workdir))
        except OSError as e:
            self.refuse(f"stepper serve could not start a viewer: {e.strerror or e}")
            self.release()
            return
        finally:
            os.close(slave)
        self.lecture.log(f"viewer joined: {self.label} ({printable(term)}, {width}x{height})")
        if self.closed:  # the client left while the process was starting
            self.kill()
        else:
            self.resume_reading()
        self.flush_inbound()
        self.loop.create_task(self.wait_for_exit())
        self.watchdog = self.loop.call_later(self.lecture.config.check_interval, self.check)

    async def wait_for_exit(self) -> None:
        assert self.proc is not None
        status = await self.proc.wait()
        self.pause_reading()
        self.drain()
        if not self.closed and self.chan is not None:
            with contextlib.suppress(OSError):
                self.chan.exit(status if status >= 0 else 128 - status)
            self.hang_up_later()
        self.release()

    def drain(self) -> None:
        """Send what the viewer wrote before it exited (its goodbye, its terminal restored)."""
        for _ in range(64):
            data = self.read_pty()
            if not data:
                return
            self.send(data)

    def kill(self) -> None:
        """End the viewer process and everything it started: its whole process group."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def end(self, message: str) -> None:
        """End this viewer from the server's side: tidy the client's terminal, say why, hang up."""
        self.pause_reading()
        self.kill()
        if self.chan is not None and not self.closed:
            with contextlib.suppress(OSError):
                self.chan.write(RESTORE + message.encode() + b"\r\n")
                self.chan.exit(0)
            self.hang_up_later()

    def hang_up_later(self) -> None:
        """The client hangs up once it has the exit status; one that does not is hung up on."""
        if self.chan is not None:
            self.loop.call_later(HANG_UP_AFTER, self.chan.get_connection().close)

    def release(self) -> None:
        """The viewer process is gone: free its terminal and its directory, count one viewer less."""
        if self.released:
            return
        self.released = True
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.pause_reading()
        with contextlib.suppress(OSError):
            if self.master is not None:
                self.loop.remove_writer(self.master)
                os.close(self.master)
        self.master = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.lecture.leave(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.proc is None:
            if self.master is None:  # never started (refused, or still starting: start() sees closed)
                self.lecture.leave(self)
            return
        self.kill()

    # --- the viewer's screen, out to the client -------------------------------------------------

    def read_pty(self) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError:  # EIO: the viewer process has closed its terminal
            return b""

    def on_pty_readable(self) -> None:
        data = self.read_pty()
        if not data:
            self.pause_reading()  # the process is ending: wait_for_exit takes it from here
            return
        self.send(data)

    def send(self, data: bytes) -> None:
        if self.chan is None or self.closed:
            return
        self.last_activity = time.monotonic()
        with contextlib.suppress(OSError):
            self.chan.write(data)

    def pause_reading(self) -> None:
        if self.reading and self.master is not None:
            self.loop.remove_reader(self.master)
        self.reading = False

    def resume_reading(self) -> None:
        if not self.reading and self.master is not None and not self.released:
            self.loop.add_reader(self.master, self.on_pty_readable)
            self.reading = True

    def pause_writing(self) -> None:  # the client is not keeping up: stop reading its screen
        self.stalled_since = time.monotonic()
        self.pause_reading()

    def resume_writing(self) -> None:
        self.stalled_since = None
        if self.proc is not None and self.proc.returncode is None:
            self.resume_reading()

    # --- the client's keys, in to the viewer process --------------------------------------------

    def data_received(self, data: bytes, datatype) -> None:
        self.last_activity = time.monotonic()
        self.inbound += data
        if len(self.inbound) > INBOUND_LIMIT and self.chan is not None and not self.input_paused:
            self.input_paused = True
            self.chan.pause_reading()
        self.flush_inbound()

    def flush_inbound(self) -> None:
        if self.master is None or self.released:
            return
        try:
            written = os.write(self.master, self.inbound) if self.inbound else 0
        except BlockingIOError:
            written = 0
        except OSError:  # the viewer process has gone: its keys go nowhere
            written = len(self.inbound)
        del self.inbound[:written]
        if self.inbound:
            self.loop.add_writer(self.master, self.flush_inbound)
        else:
            self.loop.remove_writer(self.master)
        if self.input_paused and len(self.inbound) <= INBOUND_LIMIT // 4 and self.chan is not None:
            self.input_paused = False
            self.chan.resume_reading()

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                set_size(self.master, *clamp_size(width, height))

    # --- limits ----------------------------------------------------------------------------------

    def check(self) -> None:
        """Every few seconds: drop a client that stopped reading, or one idle for too long."""
        config = self.lecture.config
        now = time.monotonic()
        if self.stalled_since is not None and now - self.stalled_since > config.stall_timeout:
            self.lecture.log(f"viewer stalled, disconnected: {self.label}")
            self.end("Your connection stopped taking the screen: disconnected.")
        elif config.idle_timeout and now - self.last_activity > config.idle_timeout:
            self.lecture.log(f"viewer idle, disconnected: {self.label}")
            self.end(f"Nothing happened for {duration(config.idle_timeout)}: disconnected.")
        elif not self.released:
            self.watchdog = self.loop.call_later(config.check_interval, self.check)
