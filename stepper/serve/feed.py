"""The position channel: the presenter's step, published to every viewer process.

A Unix socket in the lecture's private directory (mode 0700). Each viewer process connects to it
(stepper.tui.follow) and reads newline-delimited ASCII lines:

    17              the presenter is at global step 17 (0-based); sent on connect, then after every change
    17 2:3:eval     ... and dropout layer 2 (0-based) shows its 3rd fresh sample, in eval mode
                    (see StepperApp.lecture_state); layers left as the file has them are not named
    17 ?4:17        ... and the class is asked question 4: the value step 17 computes is hidden
    bye             the lecture is over: say so and exit

Viewers never write. Only the latest position matters, so a reader that falls behind loses
nothing by reading several lines at once, and one that stops reading is cut off once its backlog
passes ``BACKLOG_LIMIT`` rather than holding memory for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

BYE = b"bye"
BACK_TO_FOLLOWING = 3  # an explorer process's exit status when its student goes back to the shared screen
BACKLOG_LIMIT = 64 * 1024  # bytes: thousands of positions that a stuck viewer process never read


STATE = re.compile(rb"\d{1,12}( \d{1,4}:\d{1,9}:(train|eval)(:\d{1,9})?(,\d{1,4}:\d{1,9}:(train|eval)(:\d{1,9})?){0,63})?"
                   rb"( \?\d{1,9}:\d{1,12})?")


def parse(buffer: bytes) -> tuple[list[str | bytes], bytes]:
    """Split received bytes into messages (a lecture state as text, or BYE) and the unfinished rest;
    anything that is not a well-formed state is ignored."""
    *lines, rest = buffer.split(b"\n")
    messages: list[str | bytes] = []
    for line in lines:
        line = line.strip()
        if line == BYE:
            messages.append(BYE)
        elif STATE.fullmatch(line):
            messages.append(line.decode("ascii"))
    return messages, rest


class Feed:
    """The server side of the position channel; every method runs on the server's event loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.state = "0"
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.AbstractServer | None = None
        self.ended = False

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.ended:
            writer.write(BYE + b"\n")
        else:
            writer.write(self.state.encode("ascii") + b"\n")
            self.writers.add(writer)
        try:
            while await reader.read(4096):  # viewers have nothing to say: read until they hang up
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def _send(self, line: bytes) -> None:
        for writer in list(self.writers):
            if writer.transport.get_write_buffer_size() > BACKLOG_LIMIT:
                self.writers.discard(writer)
                writer.transport.abort()
                continue
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(line)

    def publish(self, state: str) -> None:
        """The presenter's lecture state is now ``state``: tell every viewer (and later arrivals)."""
        if self.ended or state == self.state:
            return
        self.state = state
        self._send(state.encode("ascii") + b"\n")

    def end(self) -> None:
        """Tell every viewer the lecture is over; later arrivals hear the same."""
        if not self.ended:
            self.ended = True
            self._send(BYE + b"\n")

    def close(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        if self.server is not None:
            self.server.close()
