"""One student's SSH session: following a shared screen, or exploring in a process of their own.

A student who follows costs no process: the session subscribes to the renderer of its view class
(stepper.serve.screen) and is sent rows of that shared screen. Of their keys only `f` (explore)
and `q` (leave) mean anything; the rest show a one-line hint. `f` starts a viewer process of their
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
from stepper.serve.input import KeyFilter
from stepper.serve.poll import Prompt, Question, verdict
from stepper.serve.process import ViewerProcess, clamp_size, viewer_command, viewer_env
from stepper.serve.screen import ENTER, colour_depth, rung_for

if TYPE_CHECKING:
    from stepper.serve.lecture import Lecture
    from stepper.serve.screen import Renderer

HANG_UP_AFTER = 3.0  # seconds a client gets to hang up by itself after its session has ended
RESIZE_WAIT = 0.05  # seconds a window must keep its size before a follower's screen is redrawn for it
ESCAPE_WAIT = 0.05  # seconds after a lone ESC before it counts as the Escape key
NOTICE_SECONDS = 4.0  # how long a one-line notice covers the bottom row of a shared screen
SMALLEST = "{w}x{h} is too small to follow the lecture: make the window at least 60x18 (a smaller font helps)."

# Leave the client's terminal usable when we end a viewer that could not tidy up itself: cancel any
# half-sent escape sequence, reset colours, leave the alternate screen, show the cursor, line wrap
# back on, stop mouse reports, bracketed paste, focus events and the kitty keyboard protocol.
RESTORE = (b"\x18\x1b[0m\x1b[?1049l\x1b[?25h\x1b[?7h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
           b"\x1b[?1015l\x1b[?2004l\x1b[?1004l\x1b[<u\r\n")
HINT = "Following the presenter: f explores on your own, q leaves."


def printable(text: str, limit: int = 32) -> str:
    """A client-chosen string made safe for the lecturer's terminal: no escape sequences, not too long."""
    clean = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:limit])
    return clean + ("..." if len(text) > limit else "")


def duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


class ViewerSession(asyncssh.SSHServerSession):
    """A shell session with a pty: a follower of a shared screen, or an explorer with a process."""

    def __init__(self, lecture: Lecture, label: str, name: str) -> None:
        self.lecture = lecture
        self.label = label  # who, for the server's log: "alice@127.0.0.1"
        self.name = name  # who, for the presenter's roster: the key's comment, or the user name
        self.loop = lecture.loop
        self.since = time.time()
        self.chan: asyncssh.SSHServerChannel | None = None
        self.term = "xterm-256color"
        self.depth = "256"
        self.size = (80, 24)
        self.mode = "starting"  # then "following" or "exploring"; "ended" at the end
        self.renderer: Renderer | None = None
        self.sent = 0  # the renderer's version this client holds
        self.whole = False  # the client holds nothing of the screen: send it whole
        self.paused = False  # the client is not taking its screen
        self.process: ViewerProcess | None = None
        self.keys = KeyFilter()
        self.prompt: Prompt | None = None  # this follower's input line while a poll question is open
        self.admitted = False
        self.closed = False  # the SSH channel is gone
        self.released = False
        self.stalled_since: float | None = None
        self.last_activity = time.monotonic()
        self.timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def view_class(self) -> str:
        """The view class, as the roster shows it: `100x30 256`."""
        if self.mode == "exploring":
            return f"{self.size[0]}x{self.size[1]} {self.depth} (own)"
        size = f"{self.renderer.columns}x{self.renderer.lines}" if self.renderer else "too small"
        return f"{size} {self.depth}"

    def later(self, name: str, delay: float, callback) -> None:
        """Run ``callback`` after ``delay`` seconds, replacing any earlier timer of that name."""
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        if not self.released:
            self.timers[name] = self.loop.call_later(delay, callback)

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
        if self.released:
            return
        self.released = True
        self.stop_following()
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        if self.process is not None:
            self.process.kill()
        self.lecture.leave(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.process is not None and self.process.running:
            self.process.kill()  # explore() releases once the process has gone
        else:
            self.release()

    # --- following: rows of a shared screen ------------------------------------------------------

    def follow(self) -> None:
        """Show the shared screen of this window's class, whole, then every frame after it."""
        self.stop_following()
        self.mode = "following"
        self.lecture.changed()
        rung = rung_for(*self.size)
        if rung is None:
            w, h = self.size
            self.send((ENTER + "\x1b[1;1H" + SMALLEST.format(w=w, h=h)[: w * h]).encode())
            return
        self.renderer = self.lecture.renderer(rung)
        self.renderer.subscribe(self)
        self.whole = True
        self.frame_ready()
        question = self.lecture.open_question()
        if question is not None and (self.prompt is None or self.prompt.question is not question):
            self.ask(question)

    def redraw(self) -> None:
        if self.mode == "following":
            self.follow()

    def note(self, rung: tuple[int, int]) -> bytes:
        """A line below the shared screen when the window is much larger than it."""
        (w, h), (rw, rh) = self.size, rung
        if h <= rh or (w < rw + 20 and h < rh + 6):
            return b""
        text = f"stepper: the lecture at {rw}x{rh}, the largest view that fits your {w}x{h} window"
        return f"\x1b[{rh + 1};1H\x1b[0;2m{text[:w]}\x1b[0m".encode()

    def stop_following(self) -> None:
        if self.renderer is not None:
            self.renderer.unsubscribe(self)
            self.renderer = None

    def frame_ready(self) -> None:
        """The shared screen changed: send what changed, unless this client is behind."""
        if self.paused or self.renderer is None or self.closed:
            return
        if self.whole:
            self.whole = False
            data = ENTER.encode() + self.renderer.full_frame(self.depth) + self.note(self.renderer.size)
        else:
            data = self.renderer.frame_since(self.sent, self.depth)
        self.sent = self.renderer.version
        if data:
            self.send(data + self.prompt_line())

    def bottom_row(self, text: str) -> bytes:
        """``text`` over the bottom row of the shared screen, in reverse video."""
        if self.renderer is None:
            return b""
        y, width = self.renderer.lines, self.renderer.columns
        return f"\x1b[{y};1H\x1b[0;7m{text[:width].ljust(width)}\x1b[0m".encode()

    def notice(self, text: str, seconds: float = NOTICE_SECONDS) -> None:
        """One line over the bottom row of the shared screen, for a few seconds."""
        if self.renderer is None or self.paused:
            return
        self.send(self.bottom_row(text))
        self.later("notice", seconds, self.clear_notice)

    def clear_notice(self) -> None:
        if self.renderer is not None and self.mode == "following" and not self.paused:
            self.send(self.prompt_line() or self.renderer.row(self.renderer.lines - 1, self.depth))

    def following_keys(self, keys: list[bytes]) -> None:
        for key in keys:
            if key in (b"f", b"F"):
                self.want_to_explore()
                return
            if key in (b"\x03", b"\x04") or (key in (b"q", b"Q") and self.prompt is None):
                self.end("You have left the lecture.")
                return
            if self.prompt is not None:
                self.answer_key(key)
        if keys and self.prompt is None:
            self.notice(HINT)

    # --- the class poll: this follower's own input line ------------------------------------------

    def ask(self, question: Question) -> None:
        """The presenter asks the class: this follower gets an input line over its bottom row."""
        self.prompt = Prompt(question)
        pending = self.timers.pop("notice", None)  # a hint must not clear the line a moment later
        if pending is not None:
            pending.cancel()
        if not self.paused:
            self.send(self.prompt_line())

    def prompt_line(self) -> bytes:
        if self.prompt is None or self.renderer is None:
            return b""
        return self.bottom_row(self.prompt.line(self.renderer.columns))

    def answer_key(self, key: bytes) -> None:
        assert self.prompt is not None
        done = self.prompt.key(key)
        if done == "send":
            self.prompt.question.answer(self, self.name, self.prompt.sent)
        if done == "skip":
            self.prompt = None
            self.clear_notice()
        elif not self.paused:
            self.send(self.prompt_line())

    def reveal(self, question: Question) -> None:
        """The value is shown again: tell this follower how they did."""
        answered = question.answers.get(self)
        self.prompt = None
        if self.mode == "following":
            self.notice(verdict(question, answered[1] if answered else None), seconds=8.0)

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
        self.last_activity = time.monotonic()
        keys = self.keys.keys(data)
        if self.keys.pending:
            self.later("escape", ESCAPE_WAIT, self.escape_key)
        self.deliver(keys)

    def escape_key(self) -> None:
        self.timers.pop("escape", None)
        self.deliver(self.keys.flush())

    def deliver(self, keys: list[bytes]) -> None:
        if self.mode == "following":
            self.following_keys(keys)
        elif self.mode == "exploring" and self.process is not None and keys:
            self.process.write(b"".join(keys))

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = clamp_size(width, height)
        if self.mode == "exploring" and self.process is not None:
            self.process.resize(*self.size)
        elif self.mode == "following":  # another class, or the same one redrawn whole in the new window;
            self.later("resize", RESIZE_WAIT, self.redraw)  # a storm of resizes costs one redraw

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
        else:
            self.later("check", config.check_interval, self.check)
