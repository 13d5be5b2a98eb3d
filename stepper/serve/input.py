"""What a student's keyboard may send: whole keys, well-formed, at the pace of a person.

Every byte a client sends passes through ``KeyFilter`` before anything else sees it. It cuts the
stream into keys (one UTF-8 character, or one escape sequence), drops whatever is not a key a
terminal sends (bytes that are not UTF-8, sequences with absurd parameters, X10 mouse reports
with raw bytes), and lets through at most ``RATE`` keys a second, with bursts of ``BURST``: a
person holding down an arrow key produces about 30. What is dropped is simply gone, so a flood
costs the server a scan of the bytes and nothing more, and the viewer process never queues it.
"""

from __future__ import annotations

import re
import time

RATE = 60.0  # keys a second, sustained
BURST = 120  # keys at once (a paste of a short number, a burst of arrow presses)
PENDING_LIMIT = 64  # bytes of an unfinished sequence kept until the rest arrives

# One key per match: a CSI or SS3 sequence, ESC and one character (Alt+key); or one character.
SEQUENCE = re.compile(
    rb"\x1b\[M[\x00-\xff]{3}"  # X10 mouse report: three raw bytes (dropped below)
    rb"|\x1b\[[\x30-\x3f]{0,40}[\x20-\x2f]{0,4}[\x40-\x7e]"  # CSI: parameters, intermediates, final
    rb"|\x1bO[\x20-\x7e]"  # SS3 (F1-F4, keypad)
    rb"|\x1b[\x20-\x7e]")  # Alt+key, and ESC + one character
CHARACTER = re.compile(
    rb"[\x00-\x7f]"  # ASCII, controls included (Ctrl+C)
    rb"|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")  # UTF-8
UNFINISHED = re.compile(
    rb"\x1b(\[[\x30-\x3f]{0,40}[\x20-\x2f]{0,4}|\[M[\x00-\xff]{0,2}|O)?"
    rb"|[\xc2-\xdf]|[\xe0-\xef][\x80-\xbf]{0,1}|[\xf0-\xf4][\x80-\xbf]{0,2}")
PARAMETER = re.compile(rb"\d+")
LARGEST_PARAMETER = 65535  # key codes and mouse coordinates are below this; beyond it is noise


def sane(key: bytes) -> bool:
    """A complete key worth passing on."""
    if key.startswith(b"\x1b[M") and len(key) == 6:
        return False  # X10 mouse: raw coordinate bytes, which break UTF-8; stepper asks for SGR reports
    if key.startswith(b"\x1b["):
        return all(int(p) <= LARGEST_PARAMETER for p in PARAMETER.findall(key[2:-1]))
    return True


class Bucket:
    """At most ``rate`` events a second, with bursts of ``burst``: a token bucket."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> bool:
        """One event: True if it may pass."""
        self.refill()
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class KeyFilter(Bucket):
    """Whole, sane keys at a person's pace, from whatever bytes arrive."""

    def __init__(self, rate: float = RATE, burst: int = BURST, clock=time.monotonic) -> None:
        super().__init__(rate, burst, clock)
        self.pending = b""
        self.dropped = 0  # keys (or, in a flood, bytes) dropped so far

    def keys(self, data: bytes) -> list[bytes]:
        """The keys in ``data`` (with any unfinished sequence from before) that may pass."""
        data = self.pending + data
        self.pending = b""
        self.refill()
        keys: list[bytes] = []
        i = 0
        while i < len(data):
            if self.tokens < 1:  # no key may pass now: the rest is dropped whole, not read key by key
                self.skip(data[i:])
                break
            if len(data) - i <= PENDING_LIMIT and UNFINISHED.fullmatch(data, i):
                self.pending = data[i:]  # the rest of this key has not arrived yet
                break
            match = SEQUENCE.match(data, i)
            if match is None:
                match = CHARACTER.match(data, i)  # a lone ESC is the Escape key
            if match is None:
                i += 1  # not the start of any key: a stray byte
                self.dropped += 1
                continue
            i = match.end()
            key = match.group()
            if not sane(key) or self.tokens < 1:
                self.dropped += 1
                continue
            self.tokens -= 1
            keys.append(key)
        return keys

    def skip(self, rest: bytes) -> None:
        """Drop ``rest`` at the cost of one search, keeping an unfinished sequence at its end, so that
        a flood costs the server as little per byte as the kernel does."""
        start = rest.rfind(b"\x1b", max(len(rest) - PENDING_LIMIT, 0))
        tail = rest[start:] if start >= 0 else b""
        self.pending = tail if tail and UNFINISHED.fullmatch(tail) else b""
        self.dropped += len(rest) - len(self.pending)

    def flush(self) -> list[bytes]:
        """An unfinished sequence that stayed unfinished: a lone ESC is the Escape key; the rest is noise."""
        pending, self.pending = self.pending, b""
        return [pending] if pending == b"\x1b" and self.tokens >= 1 else []
