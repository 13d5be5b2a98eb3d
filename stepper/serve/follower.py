"""Following the presenter on a shared screen, whatever carries the bytes: SSH or a browser page.

A follower costs no process: it subscribes to the renderer of its view class (stepper.serve.screen)
and is sent rows of that shared screen, whole when it joins or changes class, then what changed
since the version it holds. While its transport is behind (``paused``) it is sent nothing; when it
catches up it gets the rows that changed meanwhile, as they are now. Of its keys, which pass
``KeyFilter`` first, only a few mean anything: `f` (explore, where the transport offers it), `q`
(leave) and, while the presenter's poll question is open, the keys of its own input line over the
bottom row. Any other key shows a one-line hint.

A transport subclasses ``Follower`` and supplies ``send`` (bytes for the terminal), ``end`` (the
server ends this viewer, with a reason) and ``want_to_explore``: stepper.serve.session for SSH,
stepper.serve.browser for a page's WebSocket.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from stepper.serve.input import KeyFilter
from stepper.serve.poll import Prompt, Question, verdict
from stepper.serve.process import clamp_size
from stepper.serve.screen import ENTER, rung_for

if TYPE_CHECKING:
    from stepper.serve.lecture import Lecture
    from stepper.serve.process import ViewerProcess
    from stepper.serve.screen import Renderer

RESIZE_WAIT = 0.05  # seconds a window must keep its size before a follower's screen is redrawn for it
ESCAPE_WAIT = 0.05  # seconds after a lone ESC before it counts as the Escape key
NOTICE_SECONDS = 4.0  # how long a one-line notice covers the bottom row of a shared screen
SMALLEST = "{w}x{h} is too small to follow the lecture: make the window at least 60x18 (a smaller font helps)."
HINT = "Following the presenter: f explores on your own, q leaves."


def duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


class Follower:
    """One viewer of the lecture, following a shared screen when ``mode`` is "following"."""

    kind = ""  # how the roster marks the transport after the view class ("web"); nothing for SSH
    hint = HINT  # what any other key shows
    smallest = SMALLEST  # what a window too small for every view class shows
    leave_keys = (b"q", b"Q", b"\x03", b"\x04")  # q leaves; so do Ctrl+C and Ctrl+D, unless typing an answer

    def __init__(self, lecture: Lecture, label: str, name: str) -> None:
        self.lecture = lecture
        self.label = label  # who, for the server's log: "alice@127.0.0.1"
        self.name = name  # who, for the presenter's roster: the key's comment, or the user name
        self.loop = lecture.loop
        self.since = time.time()
        self.depth = "256"
        self.size = (80, 24)
        self.mode = "starting"  # then "following" (or "exploring", over SSH); "ended" at the end
        self.renderer: Renderer | None = None
        self.sent = 0  # the renderer's version this client holds
        self.whole = False  # the client holds nothing of the screen: send it whole
        self.paused = False  # the client is not taking its screen
        self.process: ViewerProcess | None = None  # an explorer's own process; a follower has none
        self.keys = KeyFilter()
        self.prompt: Prompt | None = None  # this follower's input line while a poll question is open
        self.notice_text: str | None = None  # the one-line notice over the bottom row, while it lasts
        self.closed = False  # the client's connection is gone
        self.released = False
        self.stalled_since: float | None = None
        self.last_activity = time.monotonic()
        self.timers: dict[str, asyncio.TimerHandle] = {}

    # --- what each transport supplies ----------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Bytes for the client's terminal, in order."""
        raise NotImplementedError

    def end(self, message: str) -> None:
        """End this viewer from the server's side, telling them why."""
        raise NotImplementedError

    def want_to_explore(self) -> None:
        """The follower pressed f."""
        raise NotImplementedError

    def show_view(self, rung: tuple[int, int] | None) -> None:
        """The follower is about to be sent the screen of this view class (None: too small for any)."""

    # --- bookkeeping -----------------------------------------------------------------------------

    @property
    def view_class(self) -> str:
        """The view class, as the roster shows it: `100x30 256`, `100x30 truecolor web`."""
        size = f"{self.renderer.columns}x{self.renderer.lines}" if self.renderer else "too small"
        return " ".join(part for part in (size, self.depth, self.kind) if part)

    def later(self, name: str, delay: float, callback) -> None:
        """Run ``callback`` after ``delay`` seconds, replacing any earlier timer of that name."""
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        if not self.released:
            self.timers[name] = self.loop.call_later(delay, callback)

    def release(self) -> None:
        """This viewer is gone: no subscription, no timers, one viewer less."""
        if self.released:
            return
        self.released = True
        self.stop_following()
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        self.lecture.leave(self)

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

    # --- following: rows of a shared screen ------------------------------------------------------

    def follow(self) -> None:
        """Show the shared screen of this window's class, whole, then every frame after it."""
        self.stop_following()
        self.mode = "following"
        self.lecture.changed()
        rung = rung_for(*self.size)
        self.show_view(rung)
        if rung is None:
            w, h = self.size
            self.send((ENTER + "\x1b[1;1H" + self.smallest.format(w=w, h=h)[: w * h]).encode())
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
        if data:  # a frame may redraw the bottom row: a notice or the poll's line stays on top of it
            self.send(data + self.overlay())

    def bottom_row(self, text: str) -> bytes:
        """``text`` over the bottom row of the shared screen, in reverse video."""
        if self.renderer is None:
            return b""
        y, width = self.renderer.lines, self.renderer.columns
        return f"\x1b[{y};1H\x1b[0;7m{text[:width].ljust(width)}\x1b[0m".encode()

    def notice(self, text: str, seconds: float = NOTICE_SECONDS) -> None:
        """One line over the bottom row of the shared screen, for a few seconds."""
        if self.renderer is None:
            return
        self.notice_text = text
        if not self.paused:
            self.send(self.bottom_row(text))
        self.later("notice", seconds, self.clear_notice)

    def clear_notice(self) -> None:
        self.notice_text = None
        if self.renderer is not None and self.mode == "following" and not self.paused:
            self.send(self.prompt_line() or self.renderer.row(self.renderer.lines - 1, self.depth))

    def overlay(self) -> bytes:
        """What covers the bottom row now: a notice, else the poll's input line, else nothing."""
        return self.bottom_row(self.notice_text) if self.notice_text else self.prompt_line()

    # --- keys ------------------------------------------------------------------------------------

    def take_input(self, data: bytes) -> None:
        """Bytes the client typed: whole keys at a person's pace, then what they mean."""
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

    def following_keys(self, keys: list[bytes]) -> None:
        for key in keys:
            if key in (b"f", b"F"):
                self.want_to_explore()
                return
            if key in self.leave_keys and (self.prompt is None or key not in (b"q", b"Q")):
                self.end("You have left the lecture.")
                return
            if self.prompt is not None:
                self.answer_key(key)
        if keys and self.prompt is None:
            self.notice(self.hint)

    def resized(self, width: int, height: int) -> None:
        """The window changed size: another class, or the same one redrawn whole in the new window;
        a storm of resizes costs one redraw."""
        self.size = clamp_size(width, height)
        if self.mode == "following":
            self.later("resize", RESIZE_WAIT, self.redraw)

    # --- the class poll: this follower's own input line ------------------------------------------

    def ask(self, question: Question) -> None:
        """The presenter asks the class: this follower gets an input line over its bottom row."""
        self.prompt = Prompt(question)
        pending = self.timers.pop("notice", None)  # a hint must not clear the line a moment later
        if pending is not None:
            pending.cancel()
        self.notice_text = None
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
        self.notice_text = None  # typing into the line brings it back over any notice
        if done == "skip":
            self.prompt = None
            self.clear_notice()
        elif not self.paused:
            self.send(self.prompt_line())

    def reveal(self, question: Question) -> None:
        """The value is shown again: tell this follower how they did."""
        if "escape" in self.timers:  # an Esc typed before the reveal counts before it
            self.timers["escape"].cancel()
            self.escape_key()
        answered = question.answers.get(self)
        self.prompt = None
        if self.mode == "following":
            self.notice(verdict(question, answered[1] if answered else None), seconds=20.0)
