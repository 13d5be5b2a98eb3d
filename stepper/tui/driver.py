"""The terminal driver stepper runs on: Textual's own for Linux and macOS, made to take any input.

A terminal may send stepper anything: a Latin-1 é (the byte 0xe9, not UTF-8), a mouse report from
an old terminal whose coordinate bytes go past 0x7f, a key code beyond Unicode, a number with
twenty digits, a window size of zero. Textual's driver stops the app with a traceback on such input.
This driver reads bytes that are not UTF-8 as U+FFFD (the replacement character), drops an escape
sequence it cannot make sense of and reads on after it, and ignores a key or a window-size report
no terminal could send. Every key that makes sense still works, before and after.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual import events
from textual._loop import loop_last
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

MAX_COLUMNS, MAX_ROWS = 1000, 500  # a window-size report beyond this is not a terminal's


def plausible(token: Message) -> bool:
    """Whether a terminal could send this: a key is Unicode text (a key code in the surrogate range
    is not), a window-size report counts some cells but not too many, and some pixels if any."""
    if isinstance(token, events.Key):
        try:
            f"{token.key}{token.character or ''}".encode()
        except UnicodeEncodeError:
            return False
    elif isinstance(token, events.Resize):
        width, height = token.size
        pixels = token.pixel_size
        return 0 < width <= MAX_COLUMNS and 0 < height <= MAX_ROWS and (pixels is None or all(pixels))
    return True


class TolerantParser(XTermParser):
    """Textual's parser of terminal input, except that a sequence it fails on is dropped (the next
    character starts afresh, as after a complete sequence), and so is what no terminal could send
    (see plausible): after a window-size report is dropped, mouse positions are read as before it."""

    def parse(self, token_callback):
        sizes = self.mouse_pixels, self.terminal_size, self.terminal_pixel_size

        def take(token: Message) -> None:
            nonlocal sizes
            if not plausible(token):
                self.mouse_pixels, self.terminal_size, self.terminal_pixel_size = sizes
                return
            sizes = self.mouse_pixels, self.terminal_size, self.terminal_pixel_size
            token_callback(token)

        while True:
            try:
                return (yield from super().parse(take))
            except Exception:  # the failed sequence is dropped
                pass


class TerminalInput:
    """What a terminal types, as Textual's events: its bytes read as UTF-8 (bytes that are not
    UTF-8 as U+FFFD), then parsed by the tolerant parser."""

    def __init__(self, debug: bool = False) -> None:
        self.parser = TolerantParser(debug)
        self.decode = getincrementaldecoder("utf-8")(errors="replace").decode

    def feed(self, data: bytes, final: bool = False) -> list[Message]:
        """The events that ``data`` completes (a character or sequence cut short waits for the rest)."""
        text = self.decode(data, final)
        return list(self.parser.feed(text)) if text else []

    def tick(self) -> list[Message]:
        """The events that time completes: Escape, when no sequence followed it."""
        return list(self.parser.tick())

    def close(self) -> list[Message]:
        """The events still waiting at the end of input."""
        return [] if self.parser.is_eof else list(self.parser.feed(""))


class StepperDriver(LinuxDriver):
    """Textual's Linux and macOS driver: input that is not UTF-8 is replaced, a sequence that makes
    no sense is dropped, and no input ends the app."""

    def run_input_thread(self) -> None:
        """Read the terminal and post what it types to the app, as Textual's driver does."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        terminal = TerminalInput(self._debug)

        def process(selector_events: list, final: bool = False) -> None:
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    data = os.read(self.fileno, 4096)
                    if not data:  # stdin is a pipe, at its end
                        break
                    for message in terminal.feed(data, final=final and last):
                        self.process_message(message)
            for message in terminal.tick():
                self.process_message(message)

        try:
            while not self.exit_event.is_set():
                process(selector.select(0.1))
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            terminal.close()

    def _run_input_thread(self) -> None:
        """The input thread. A terminal that can no longer be read (closed, hung up) ends the app
        quietly, with status 1; Textual's driver would print a traceback."""
        try:
            self.run_input_thread()
        except Exception:
            if not self.exit_event.is_set():
                self._app.call_later(self._app.exit, None, 1)

    def process_message(self, message: Message) -> None:
        """Hand one event to the app; one the driver fails on is dropped."""
        try:
            super().process_message(message)
        except Exception:
            pass
