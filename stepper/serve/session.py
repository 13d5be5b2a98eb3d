"""One student's SSH session: following a shared screen, or exploring in a process of their own.

A student who follows costs no process: the session is a ``Follower`` (stepper.serve.follower,
shared with browser pages) of the renderer of its view class, and is sent rows of that shared
screen. Of their keys only `f` (explore) and `q` (leave) mean anything, and the poll's input line
while a question is open; the rest show a one-line hint. `f` starts a viewer process of their
own on a pseudo-terminal (stepper.serve.process), as long as fewer than ``max_explorers`` are
exploring; its screen goes straight to the client, the client's keys to it. Its own `f` ends it
and brings the student back to the shared screen, at the presenter's step.

With ``--headless`` there is no presenter: every session is an explorer from the start.

Both directions are bounded. Out: above ``outbound_limit`` bytes waiting for the client, a
follower is sent nothing more until it catches up (then the rows that changed, as they are now),
and an explorer's process is not read (it waits on its own terminal); a client stalled past
``stall_timeout`` is disconnected. In: every byte passes ``KeyFilter`` (whole, sane keys at a
person's pace); an explorer's keys beyond ``INBOUND_LIMIT`` pause the SSH channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import asyncssh

from stepper.serve.feed import BACK_TO_FOLLOWING
from stepper.serve.follower import Follower
from stepper.serve.process import ViewerProcess, clamp_size, viewer_command, viewer_env
from stepper.serve.screen import colour_depth

if TYPE_CHECKING:
    from stepper.serve.lecture import Lecture

HANG_UP_AFTER = 3.0  # seconds a client gets to hang up by itself after its session has ended

# Leave the client's terminal usable when we end a viewer that could not tidy up itself: cancel any
# half-sent escape sequence, reset colours, leave the alternate screen, show the cursor, line wrap
# back on, stop mouse reports, bracketed paste, focus events and the kitty keyboard protocol.
RESTORE = (b"\x18\x1b[0m\x1b[?1049l\x1b[?25h\x1b[?7h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
           b"\x1b[?1015l\x1b[?2004l\x1b[?1004l\x1b[<u\r\n")


def printable(text: str, limit: int = 32) -> str:
    """A client-chosen string made safe for the lecturer's terminal: no escape sequences, not too long."""
    clean = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])
    return clean + ("..." if len(text) > limit else "")


class ViewerSession(Follower, asyncssh.SSHServerSession):
    """A shell session with a pty: a follower of a shared screen, or an explorer with a process."""

    def __init__(self, lecture: Lecture, label: str, name: str) -> None:
        super().__init__(lecture, label, name)
        self.chan: asyncssh.SSHServerChannel | None = None
        self.term = "xterm-256color"
        self.admitted = False

    @property
    def view_class(self) -> str:
        """The view class, as the roster shows it: `100x30 256`, or `... (own)` when exploring."""
        if self.mode == "exploring":
            return f"{self.size[0]}x{self.size[1]} {self.depth} (own)"
        return super().view_class

    # --- what the client may ask for ----------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self.chan = chan
        chan.set_write_buffer_limits(high=self.lecture.config.outbound_limit)
        # Every state is under a timeout: a session that never asks for its screen is closed.
        self.later("start", self.lecture.config.login_timeout, self.never_started)

    def never_started(self) -> None:
        if self.mode == "starting" and not self.released:
            self.lecture.log(f"session never started, closed: {self.label}")
            self.refuse("No screen was asked for in time: connect with `ssh -t`, without a command.")
            self.release()

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

    # --- starting and ending -------------------------------------------------------------------

    def refuse(self, message: str, status: int = 1) -> None:
        """Tell the client why there is no screen for them, and end the session."""
        if self.chan is not None and not self.closed:
            with contextlib.suppress(OSError):
                self.chan.write(message.encode() + b"\r\n")
                self.chan.exit(status)
            self.hang_up_later()

    async def start(self) -> None:
        if self.closed or self.chan is None or self.released:  # the client left before its session began
            return
        term = self.chan.get_terminal_type()
        if term is None:
            self.refuse("stepper serve shows a full-screen lecture and needs a terminal: "
                        "connect with `ssh -t`, without a command.")
            self.release()
            return
        if not self.lecture.admit(self):
            self.refuse(f"Sorry, this lecture is full ({self.lecture.config.max_viewers} viewers). "
                        "Try again in a little while.")
            self.release()
            return
        self.admitted = True
        self.term = term
        self.depth = colour_depth(term, dict(self.chan.get_environment()))
        self.size = clamp_size(*self.chan.get_terminal_size()[:2])
        self.lecture.log(f"viewer joined: {self.label} ({printable(term)}, {self.size[0]}x{self.size[1]})")
        self.later("check", self.lecture.config.check_interval, self.check)
        if self.lecture.config.presenter:
            self.follow()
        else:
            self.loop.create_task(self.explore("viewer"))

    def end(self, message: str) -> None:
        """End this viewer from the server's side: tidy the client's terminal, say why, hang up."""
        if self.process is not None:
            self.process.kill()
        self.stop_following()
        self.mode = "ended"
        if self.chan is not None and not self.closed:
            with contextlib.suppress(OSError):
                self.chan.write(RESTORE + message.encode() + b"\r\n")
                self.chan.exit(0)
            self.hang_up_later()
        if self.process is None:
            self.release()

    def hang_up_later(self) -> None:
        """The client hangs up once it has the exit status; one that does not is hung up on."""
        if self.chan is not None:
            self.loop.call_later(HANG_UP_AFTER, self.chan.get_connection().close)

    def release(self) -> None:
        """This viewer is gone: no process, no subscription, one viewer less."""
        if not self.released and self.process is not None:
            self.process.kill()
        super().release()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.process is not None and self.process.running:
            self.process.kill()  # explore() releases once the process has gone
        else:
            self.release()

    # --- exploring: a process of one's own -------------------------------------------------------

    def want_to_explore(self) -> None:
        if not self.lecture.may_explore(self):
            limit = self.lecture.config.max_explorers
            self.notice(f"All {limit} places to explore on your own are taken: you keep following. Try f later.")
            return
        self.notice("Starting your own copy: explore with the usual keys, f comes back to the lecture...")
        self.loop.create_task(self.explore("explorer"))

    async def explore(self, role: str) -> None:
        """Run this student's own viewer process until it ends; then follow again or leave."""
        self.mode = "exploring"
        self.lecture.changed()
        process = self.process = ViewerProcess(self.loop, self.lecture.rundir, self.explorer_output,
                                               self.input_backlog)
        command = viewer_command(self.lecture.scenario_path, self.lecture.feed_path, role)
        try:
            await process.start(command, viewer_env(self.term, dict(self.chan.get_environment())), self.size)
        except OSError as e:
            self.process = None
            if self.renderer is None and self.lecture.config.presenter and not self.closed:
                self.follow()
                self.notice(f"Could not start your own copy ({e.strerror or e}): you keep following.")
                return
            self.refuse(f"stepper serve could not start a viewer: {e.strerror or e}")
            self.release()
            return
        self.stop_following()
        if self.closed:  # the client left while the process was starting
            process.kill()
        status = await process.wait()
        self.process = None
        back = status == BACK_TO_FOLLOWING and self.lecture.config.presenter and not self.lecture.stopped
        if back and not self.closed and self.mode == "exploring":
            self.follow()
            return
        if not self.closed and self.chan is not None and self.mode != "ended":
            self.mode = "ended"
            with contextlib.suppress(OSError):
                self.chan.exit(0 if status == BACK_TO_FOLLOWING else status)
            self.hang_up_later()
        self.release()

    def explorer_output(self, data: bytes) -> None:
        if self.mode == "exploring":
            self.send(data)

    def input_backlog(self, full: bool) -> None:
        if self.chan is not None and not self.closed:
            (self.chan.pause_reading if full else self.chan.resume_reading)()

    # --- the connection ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.chan is None or self.closed:
            return
        self.last_activity = time.monotonic()
        with contextlib.suppress(OSError):
            self.chan.write(data)

    def pause_writing(self) -> None:  # the client is not keeping up
        self.paused = True
        self.stalled_since = time.monotonic()
        if self.process is not None:
            self.process.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self.stalled_since = None
        if self.process is not None and self.process.running:
            self.process.resume_reading()
        self.frame_ready()  # the rows that changed meanwhile, as they are now

    def data_received(self, data: bytes, datatype) -> None:
        self.take_input(data)

    def deliver(self, keys: list[bytes]) -> None:
        if self.mode == "exploring" and self.process is not None and keys:
            self.process.write(b"".join(keys))
        else:
            super().deliver(keys)

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.mode == "exploring" and self.process is not None:
            self.size = clamp_size(width, height)
            self.process.resize(*self.size)
        else:
            self.resized(width, height)
