"""The position channel: the presenter's step, published to every viewer process.

A Unix socket in the lecture's private directory (mode 0700). Each viewer process connects to it
(stepper.tui.follow) and reads newline-delimited ASCII lines:

    17      the presenter is at global step 17 (0-based); sent on connect, then after every move
    bye     the lecture is over: say so and exit

Viewers never write. Only the latest position matters, so a reader that falls behind loses
nothing by reading several lines at once, and one that stops reading is cut off once its backlog
passes ``BACKLOG_LIMIT`` rather than holding memory for ever.
"""

from __future__ import annotations

import asyncio
import contextlib

BYE = b"bye"
BACKLOG_LIMIT = 64 * 1024  # bytes: thousands of positions that a stuck viewer process never read


def parse(buffer: bytes) -> tuple[list[int | bytes], bytes]:
    """Split received bytes into messages (an int position, or BYE) and the unfinished rest."""
    *lines, rest = buffer.split(b"\n")
    messages: list[int | bytes] = []
    for line in lines:
        line = line.strip()
        if line == BYE:
            messages.append(BYE)
        elif line.isdigit():
            messages.append(int(line))
    return messages, rest


class Feed:
    """The server side of the position channel; every method runs on the server's event loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.position = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.AbstractServer | None = None
        self.ended = False

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.ended:
            writer.write(BYE + b"\n")
        else:
            writer.write(b"%d\n" % self.position)
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

    def publish(self, position: int) -> None:
        """The presenter is at ``position``: tell every viewer (and everyone who joins later)."""
        if self.ended or position == self.position:
            return
        self.position = position
        self._send(b"%d\n" % position)

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
