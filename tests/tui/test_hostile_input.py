"""Whatever bytes a terminal sends, stepper shows no traceback and goes on working.

Bytes that are not UTF-8 (a Latin-1 é, an old terminal's mouse report past column 95), escape
sequences with key codes beyond Unicode or twenty-digit numbers, truncated sequences, window-size
reports of zero: the real `stepper run` on a pseudo-terminal takes thousands of them, and a Right
arrow afterwards still steps.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual import events

from stepper.tui.driver import StepperDriver, TerminalInput
from tests.tui.conftest import SCENARIOS

COLS, ROWS = 80, 24
BURSTS, PIECES = 30, 50  # per run: 1,500 pieces of hostile input
FATAL_TO_TEXTUAL = [  # input on which Textual's own driver (8.2) ends the app with a traceback
    b"\xe9",  # é from a Latin-1 terminal
    b"\x1b[M" + bytes([32, 255, 255]),  # an X10 mouse report at column and row 223
    b"\x1b[99999999999999999999u",
    b"\x1b[1114112;1u",
    b"\x1b[<0;99999999999999999999;5M",
    b"\x1b[1;1:99999999999999999999u",
    b"\x1b[48;0;0;0;0t\x1b[<0;5;5M",  # a window of zero pixels, then a click
]
# Keys the generated input leaves out: they quit (q, Ctrl+Q, Ctrl+C; the palette, Ctrl+P, has a
# Quit command), suspend (Ctrl+Z), play (space) or write a file (s). The bytes themselves are left
# out of the random parts; what the other parts might still spell is checked below.
LEFT_OUT_KEYS = {"q", "ctrl+q", "ctrl+c", "ctrl+p", "ctrl+z", "space", "s"}
LEFT_OUT_BYTES = b"qs \x03\x10\x11\x1a"
PASTE_END = b"\x1b[201~"
FOOTER_ROWS = 20  # a click from this row down (0-based) could press a footer key, such as Quit


def new_reader():
    """What stepper's driver reads with: bytes in, Textual's events out."""
    return TerminalInput().feed


# --- the guard itself ------------------------------------------------------------------------


def test_a_bad_sequence_is_dropped_and_the_keys_around_it_arrive():
    read = new_reader()
    for bad in [b"\x1b[99999999999999999999u", b"\x1b[1114112;1u", b"\x1b[1;1:99999999999999999999u",
                b"\x1b[<0;99999999999999999999;5M", b"\x1b[55296u", b"\x1b[97;1;55296u"]:
        keys = [m.key for m in read(b"a" + bad + b"b\x1b[C") if isinstance(m, events.Key)]
        assert keys == ["a", "b", "right"], bad
    keys = [m.key for m in read(b"\xe9x\xffy\xed\xa0\x80z") if isinstance(m, events.Key)]
    assert keys == ["replacement_character", "x", "replacement_character", "y"] + ["replacement_character"] * 3 + ["z"]


def test_a_window_size_no_terminal_has_is_ignored_and_clicks_stay_in_cells():
    read = new_reader()
    for report in [b"\x1b[48;0;0;0;0t", b"\x1b[48;24;80;0;0t", b"\x1b[48;99999;99999;1;1t",
                   b"\x1b[48;24;1001;24;1001t"]:
        messages = read(report + b"\x1b[<0;5;7M")
        assert [(type(m), m.x, m.y) for m in messages] == [(events.MouseDown, 4, 6)], report
    messages = read(b"\x1b[48;24;80;480;800t\x1b[<0;50;70M")  # a real one: clicks in pixels, 10x20 a cell
    assert [type(m) for m in messages] == [events.Resize, events.MouseDown]
    assert (messages[0].size, messages[1].x, messages[1].y) == ((80, 24), 4, 3)


def hostile_text():
    numbers = st.one_of(st.integers(0, 2**70), st.integers(0x10FFF0, 0x110010), st.integers(0xD7F0, 0xE010))
    params = st.lists(st.one_of(numbers.map(str), st.sampled_from(["", "-1", ":", "1:2:3", "99" * 20])), max_size=5)
    csi = st.tuples(st.sampled_from(["\x1b[", "\x1b[<", "\x1b[?", "\x1b[48;"]), params.map(";".join),
                    st.sampled_from(list("u~ABCDEFHPQRSMmtR") + ["$y", ""]))
    return st.one_of(st.binary(max_size=40), csi.map(lambda t: "".join(t).encode()))


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_text(), max_size=8))
def test_the_tolerant_parser_survives_any_bytes(chunks):
    read = new_reader()
    for chunk in chunks:
        read(chunk)
    # the end of a paste (if one was begun), then Right: the last key is Right
    keys = [m.key for m in read(b"\x1b[201~\x1b[C") if isinstance(m, events.Key)]
    assert keys[-1:] == ["right"]


class Recorder:
    """Stands in for the app: notes what the driver asks of it."""

    def __init__(self) -> None:
        self.calls: list = []

    def call_later(self, callback, *args) -> None:
        self.calls.append((callback.__name__, args))

    def exit(self, *args) -> None:
        pass


def test_a_terminal_that_cannot_be_read_ends_the_app_quietly():
    driver = StepperDriver.__new__(StepperDriver)  # no terminal: only the input thread's last guard
    driver._app, driver.exit_event = Recorder(), threading.Event()

    def hung_up() -> None:
        raise OSError(5, "Input/output error")

    driver.run_input_thread = hung_up
    driver._run_input_thread()  # returns: no exception, no traceback
    assert driver._app.calls == [("exit", (None, 1))]


def test_an_event_the_driver_fails_on_is_dropped():
    driver = StepperDriver.__new__(StepperDriver)  # no app to send to: sending fails
    driver.process_message(events.Key("right", None))


def test_stepper_runs_on_its_own_driver(make_app):
    if sys.platform != "win32":
        assert make_app("rnn_chinese.yaml").driver_class is StepperDriver


# --- the real program on a pseudo-terminal -----------------------------------------------------


def piece(rng: random.Random) -> bytes:
    """One random piece of hostile input."""

    def number() -> str:
        return rng.choice([str(rng.randrange(10**rng.randint(1, 25))), str(rng.randrange(0x10FFF0, 0x110100)),
                           str(rng.randrange(0xD800, 0xE000)), "0", "-1", "", "1:2", "9" * rng.randint(18, 30)])

    def raw(n: int) -> bytes:
        return bytes(b for b in rng.randbytes(n) if b not in LEFT_OUT_BYTES)

    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(FATAL_TO_TEXTUAL)
    if kind == 1:  # random bytes
        return raw(rng.randint(1, 24))
    if kind == 2:  # invalid UTF-8: stray continuation bytes, leads without their tail, overlong forms, surrogates
        return rng.choice([bytes([rng.randrange(0x80, 0xC0)]), bytes([rng.randrange(0xC2, 0xF5)]),
                           b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                           bytes([rng.randrange(0xF5, 0x100)]),
                           "扑€é".encode()[: rng.randint(1, 7)]])
    if kind == 3:  # CSI with codes beyond Unicode, huge and odd parameters
        params = ";".join(number() for _ in range(rng.randint(0, 4)))
        return f"\x1b[{rng.choice(['', '?', '>', '<'])}{params}{rng.choice('u~ABCDEFHPQRSRtyhl')}".encode()
    if kind == 4:  # a key with its text as code points (the Kitty protocol)
        text = ":".join(number() for _ in range(rng.randint(1, 3)))
        return f"\x1b[{number()};{number()};{text}u".encode()
    if kind == 5:  # SGR mouse: huge, negative, zero coordinates and buttons; presses kept off the footer
        y = rng.choice([str(rng.randint(1, FOOTER_ROWS)), "9" * 20, "0", "-5", str(10**rng.randint(6, 30))])
        return f"\x1b[<{number()};{number()};{y}{rng.choice('Mm')}".encode()
    if kind == 6:  # X10 mouse reports with bytes 0x80-0xff (no longer UTF-8)
        button = rng.choice([32, 35, 64, 96, 0x80, 0xFF])
        return b"\x1b[M" + bytes([button, rng.randrange(0x80, 0x100), rng.randrange(0x80, 0x100)])
    if kind == 7:  # window-size reports: zero or absurd sizes
        sizes = [rng.choice(["0", "99999", str(10**rng.randint(5, 25)), "24", "80:1"]) for _ in range(4)]
        sizes[rng.randrange(4)] = "0"
        return ("\x1b[48;" + ";".join(sizes) + "t").encode()
    if kind == 8:  # a truncated sequence
        whole = piece(rng)
        return whole[: rng.randint(1, max(len(whole) - 1, 1))]
    if kind == 9:  # terminal replies and strings: mode reports, cursor positions, OSC, DCS, a paste
        return rng.choice([f"\x1b[?{number()};{number()}$y", f"\x1b[{number()};{number()}R",
                           f"\x1b]{rng.randint(0, 99)};{number()}\x07", "\x1bP" + number() + "\x1b\\",
                           "\x1b[200~" + number(), "\x1b[201~", "\x1b\x1b", "\x1b", "\x9b"]).encode()
    if kind == 10:  # text, some of it wide
        letters = "abcdefghijklmnoprtuvwxyz0123456789你个扑该!é€😀\t\r\x7f"
        return "".join(rng.choice(letters) for _ in range(rng.randint(1, 8))).encode()
    return rng.choice([b"\x1b[C", b"\x1b[D", b"\x1b[H", b"\x1b[F", b"\x1b[1;2C", b"\t", b"g", b"?", b"\x1b"])


def left_out(messages) -> bool:
    """Whether the parsed input holds something the generated input leaves out (see LEFT_OUT_KEYS):
    such a key, a click near the footer, or a window size that a terminal could have."""
    for m in messages:
        if isinstance(m, events.Key) and m.key in LEFT_OUT_KEYS:
            return True
        if isinstance(m, (events.MouseDown, events.MouseUp)) and m.y >= FOOTER_ROWS:
            return True
        if isinstance(m, events.Resize):  # a size stepper takes: it would draw for it, not for 80x24
            return True
    return False


def burst(rng: random.Random, pieces: int) -> bytes:
    """``pieces`` pieces of hostile input, each kept only if stepper would not quit, play or save on
    it, then the end of a paste: that ends any sequence begun too, so the next burst is read afresh."""
    kept: list[bytes] = []
    read = new_reader()
    while True:
        ending = len(kept) == pieces
        candidate = PASTE_END if ending else piece(rng)
        if left_out(read(candidate)):
            # Left out with the piece before it, which may have begun what the candidate completed
            # (a paste, a sequence); what is kept is read again.
            kept[-1:] = []
            read = new_reader()
            for chunk in kept:
                read(chunk)
        elif ending:
            return b"".join(kept) + PASTE_END
        else:
            kept.append(candidate)


class Terminal:
    """A program on a pseudo-terminal of COLS x ROWS, its screen read with pyte."""

    def __init__(self, args: list[str], cwd) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
        env.update(TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True)
        os.close(slave)
        os.set_blocking(self.master, False)
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.output = bytearray()

    def pump(self, seconds: float = 0.0) -> None:
        """Read what the program wrote, for ``seconds`` (at least once)."""
        deadline = time.monotonic() + seconds
        while True:
            ready, _, _ = select.select([self.master], [], [], max(deadline - time.monotonic(), 0))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the program has gone, and its terminal with it
                    return
                self.output += data
                self.stream.feed(data)
            elif time.monotonic() >= deadline:
                return

    def send(self, data: bytes) -> None:
        """Write ``data`` as typed, reading the screen meanwhile (a full pty would block both sides)."""
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [self.master], [], 0.05)
            if writable:
                view = view[os.write(self.master, view[:1024]):]
            self.pump()

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.text() and time.monotonic() < deadline and self.proc.poll() is None:
            self.pump(0.05)
        assert text in self.text(), f"{text!r} never appeared; the screen shows:\n{self.text()}"
        return self.text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        os.close(self.master)


@pytest.mark.parametrize("seed", [1, 2])
def test_stepper_run_takes_any_bytes_and_still_steps(tmp_path, seed):
    term = Terminal([sys.executable, "-m", "stepper", "run", str(SCENARIOS / "rnn_chinese.yaml")], cwd=tmp_path)
    try:
        term.wait_for("step 1/20")
        rng = random.Random(seed)
        for _ in range(BURSTS):
            term.send(burst(rng, PIECES))
            assert term.proc.poll() is None, term.output.decode("utf-8", "replace")[-3000:]
        term.pump(0.5)
        for _ in range(3):  # Escape closes the help or the go-to screen, if one is open
            term.send(b"\x1b")
            term.pump(0.25)  # Escape is told from the start of a sequence by the pause after it
        if "▶" in term.text().splitlines()[0]:  # playing (a mouse click can start it): pause
            term.send(b" ")
        term.send(b"\x1b[H")  # Home: step 1
        term.wait_for("step 1/20")
        term.send(b"\x1b[C")  # Right
        term.wait_for("step 2/20")
        assert term.proc.poll() is None
        assert "Traceback" not in term.output.decode("utf-8", "replace")
    finally:
        term.close()
