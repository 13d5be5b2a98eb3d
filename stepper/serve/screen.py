"""Shared screens: one renderer per view class, its screen sent to every follower of that class.

A renderer is an ordinary viewer process (`stepper run COPY --follow FEED --role shared`) on a
pseudo-terminal of one size from ``LADDER``. Its output is read into a pyte screen, the terminal
emulator that keeps the current grid of characters and styles. Followers never see the renderer's
own byte stream: each is sent rows of that grid, encoded for its terminal's colours. This is what
makes sharing safe at any moment:

- a follower who joins late, changes class or comes back from exploring gets the whole current
  screen at once (every row), never a diff against a screen they never saw;
- a follower whose connection falls behind is sent nothing while it is behind; when it catches up
  it is sent the rows that changed since the last screen it received, as they are *now*: it skips
  frames instead of replaying them, and nobody waits for it;
- a follower whose window is larger than the class sees it at the top left, a note below it.

The grid is the renderer's; versions tell who needs what. Every published frame bumps
``version``; every row remembers the version it last changed in. A subscriber that holds version
v needs exactly the rows changed after v. The common case, a subscriber one frame behind, gets
bytes encoded once per frame and colour depth and shared by every follower of the class.

Anything that can write bytes to a terminal can subscribe (SSH sessions today): it implements
``frame_ready()`` and calls ``frame_since`` / ``full_frame``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import pyte
from pyte import graphics
from rich.color import Color, ColorSystem

# The view classes' sizes (columns, rows): a follower gets the largest that fits their window.
# 60x18 is the smallest screen stepper draws; the others are common terminal sizes, from a
# projector's big font (80x24) to a large monitor (200x60).
LADDER = ((60, 18), (80, 24), (100, 30), (120, 40), (160, 48), (200, 60))

# Colour depths, as a follower's terminal announces them (TERM, COLORTERM, NO_COLOR). The renderer
# draws in true colour; rows are encoded for each depth the way Rich (and so Textual) would have
# downgraded them itself, so a 256-colour follower sees what a 256-colour `stepper run` draws.
DEPTHS = ("truecolor", "256", "16", "mono")

COALESCE = 0.003  # seconds: output that arrives this close together is one frame

# Entering and leaving a shared screen: the alternate screen, cursor hidden, no line wrap, cleared.
ENTER = "\x1b[?1049h\x1b[?25l\x1b[?7l\x1b[0m\x1b[H\x1b[2J"
CLEAR = "\x1b[0m\x1b[H\x1b[2J"


def rung_for(width: int, height: int) -> tuple[int, int] | None:
    """The largest size of the ladder that fits a window; None if even the smallest does not."""
    fitting = [size for size in LADDER if size[0] <= width and size[1] <= height]
    return fitting[-1] if fitting else None


def colour_depth(term: str | None, env: dict) -> str:
    """What a follower's terminal can show, from what its client announced (as Rich reads it)."""
    if env.get("NO_COLOR"):
        return "mono"
    if str(env.get("COLORTERM", "")).lower() in ("truecolor", "24bit"):
        return "truecolor"
    term = (term or "").lower()
    if term in ("dumb", "unknown"):
        return "mono"
    return "256" if "256color" in term else "16"


def _named(table: dict[int, str]) -> dict[str, int]:
    return {name: code for code, name in table.items() if name != "default"}


FG_CODES = _named(graphics.FG_ANSI) | _named(graphics.FG_AIXTERM)
BG_CODES = _named(graphics.BG_ANSI) | _named(graphics.BG_AIXTERM)
SYSTEMS = {"truecolor": ColorSystem.TRUECOLOR, "256": ColorSystem.EIGHT_BIT, "16": ColorSystem.STANDARD}
ATTRIBUTES = ((1, "bold"), (3, "italics"), (4, "underscore"), (5, "blink"), (7, "reverse"), (9, "strikethrough"))


def _colour(value: str, foreground: bool, depth: str) -> tuple[str, ...]:
    if value == "default" or depth == "mono":
        return ()
    named = (FG_CODES if foreground else BG_CODES).get(value)
    if named is not None:
        return (str(named),)
    try:
        rgb = Color.parse(f"#{value}")
    except Exception:  # pyte only ever stores names and six hex digits; anything else is dropped
        return ()
    return rgb.downgrade(SYSTEMS[depth]).get_ansi_codes(foreground)


_styles: dict[tuple, str] = {}


def sgr(char: pyte.screens.Char, depth: str) -> str:
    """The escape sequence that sets a cell's style, from a reset (cached: a screen has few styles)."""
    key = (char[1:], depth)
    code = _styles.get(key)
    if code is None:
        parts = ["0"]
        parts += _colour(char.fg, True, depth)
        parts += _colour(char.bg, False, depth)
        parts += [str(n) for n, name in ATTRIBUTES if getattr(char, name)]
        code = _styles[key] = f"\x1b[{';'.join(parts)}m"
    return code


def encode_row(screen: pyte.Screen, y: int, depth: str) -> bytes:
    """One row of the grid as the bytes that draw it, from column 1, whatever was there before."""
    row = screen.buffer[y]
    out = [f"\x1b[{y + 1};1H"]
    style = None
    for x in range(screen.columns):
        char = row[x]
        if not char.data:  # the right half of a two-cell character
            continue
        code = sgr(char, depth)
        if code != style:
            out.append(code)
            style = code
        out.append(char.data)
    out.append("\x1b[0m")
    return "".join(out).encode("utf-8", "replace")


class Subscriber(Protocol):
    def frame_ready(self) -> None:
        """The renderer has a new frame; take it with ``frame_since`` when able to send."""


class Renderer:
    """One shared screen: a renderer process's output kept as a grid, and who is watching it."""

    def __init__(self, size: tuple[int, int], start_process: Callable[[Renderer], object],
                 loop) -> None:
        self.size = size
        self.columns, self.lines = size
        self.screen = pyte.Screen(self.columns, self.lines)
        self.stream = pyte.ByteStream(self.screen)
        self.loop = loop
        self.version = 0
        self.row_version = [0] * self.lines
        self.subscribers: set[Subscriber] = set()
        self._rows: dict[tuple[int, str], tuple[int, bytes]] = {}  # (row, depth) -> (version, bytes)
        self._last_rows: list[int] = []  # rows changed by the latest frame
        self._diffs: dict[str, bytes] = {}  # depth -> those rows, encoded once for everyone
        self._pending = None
        self.process = start_process(self)  # calls feed() with the renderer's output

    # --- the renderer's output, in ---------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
        if self._pending is None:
            self._pending = self.loop.call_later(COALESCE, self.publish)

    def publish(self) -> None:
        """The output that arrived is one frame: find the rows it changed and tell the subscribers."""
        self._pending = None
        dirty = sorted(y for y in self.screen.dirty if 0 <= y < self.lines)
        self.screen.dirty.clear()
        changed = []
        version = self.version + 1
        for y in dirty:
            # Rows are compared as they would be sent in true colour: a row redrawn unchanged is not sent.
            before = self._rows.get((y, "truecolor"))
            now = encode_row(self.screen, y, "truecolor")
            if before is None or before[1] != now:
                self._rows[(y, "truecolor")] = (version, now)  # other depths: stale by row_version
                self.row_version[y] = version
                changed.append(y)
        if not changed:
            return
        self.version = version
        self._last_rows = changed
        self._diffs = {}
        for subscriber in list(self.subscribers):
            subscriber.frame_ready()

    # --- frames, out -----------------------------------------------------------------------------

    def row(self, y: int, depth: str) -> bytes:
        cached = self._rows.get((y, depth))
        if cached is not None and cached[0] >= self.row_version[y]:
            return cached[1]
        data = encode_row(self.screen, y, depth)
        self._rows[(y, depth)] = (self.version, data)
        return data

    def frame_since(self, version: int, depth: str) -> bytes:
        """What a subscriber that holds ``version`` must be sent to hold the current screen."""
        if version >= self.version:
            return b""
        if version == self.version - 1:
            diff = self._diffs.get(depth)
            if diff is None:
                diff = self._diffs[depth] = b"".join(self.row(y, depth) for y in self._last_rows)
            return diff
        return b"".join(self.row(y, depth) for y in range(self.lines) if self.row_version[y] > version)

    def full_frame(self, depth: str) -> bytes:
        """The whole current screen, for a subscriber that holds nothing of it."""
        return CLEAR.encode() + b"".join(self.row(y, depth) for y in range(self.lines))

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self.subscribers.clear()


def renderer_env() -> dict[str, str]:
    """A renderer draws in true colour; followers' rows are encoded for their own terminals."""
    return {"TERM": "xterm-256color", "COLORTERM": "truecolor", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
