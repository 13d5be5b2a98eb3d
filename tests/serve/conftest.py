"""Helpers for the lecture tests: throwaway keys, a lecture server in this process, terminals read by pyte.

Every wait polls the screen against a deadline (generous, for a loaded two-core machine); nothing
asserts on speed. Every lecture is stopped at the end of its test, and the test fails if any
process it started is still alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pyte
import pytest

from stepper.export import screen_text
from stepper.scenario import load
from stepper.serve.lecture import Config, Lecture
from stepper.tui import create_app

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "scenarios" / "conv_edges.yaml")  # one conv2d layer, 36 steps
TOTAL = 36
FIRST_SCREEN = 90.0  # seconds for a viewer process to start and draw, on a busy machine
WAIT = 45.0  # seconds for anything else to show


@dataclass(frozen=True)
class Keys:
    """Throwaway keys: the server's, an invited viewer's (in authorized_keys) and a stranger's."""

    host: asyncssh.SSHKey
    viewer: asyncssh.SSHKey
    stranger: asyncssh.SSHKey
    viewer_file: Path  # OpenSSH private key files, for the real ssh client
    stranger_file: Path
    authorized: Path


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    made = {}
    for name in ("host", "viewer", "stranger"):
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}@test")
        path = tmp_path / f"{name}_key"
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)
        made[name] = (key, path)
    authorized = tmp_path / "authorized_keys"
    authorized.write_bytes(b"# the class\n" + made["viewer"][0].export_public_key())
    return Keys(made["host"][0], made["viewer"][0], made["stranger"][0], made["viewer"][1],
                made["stranger"][1], authorized)


def processes_under(folder: str) -> list[int]:
    """Live processes started for a lecture: their working directory or command line is in ``folder``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().split(b") ")[-1][:1] == b"Z":
                    continue
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            if cwd.startswith(folder) or folder in cmdline:
                found.append(int(entry))
    return found


async def eventually(check: Callable[[], object], timeout: float = WAIT, what: str = "") -> object:
    """Poll ``check`` until it returns something true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or check}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def start_lecture(keys: Keys):
    """Start a lecture server in-process: ``start_lecture(max_viewers=2, ...)`` gives a running Lecture."""
    lectures: list[Lecture] = []
    logs: list[str] = []

    def start(**overrides) -> Lecture:
        options = {"scenario_path": SCENARIO, "host_key": keys.host, "authorized_keys": str(keys.authorized)}
        options.update(overrides)
        lecture = Lecture(Config(**options), log=logs.append)
        lecture.start()
        lectures.append(lecture)
        return lecture

    start.logs = logs
    yield start
    loop = asyncio.get_running_loop()
    for lecture in lectures:
        await loop.run_in_executor(None, lecture.stop)
        left = await loop.run_in_executor(None, processes_under, lecture.rundir)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left behind by the lecture: {left}"


class Terminal:
    """A terminal whose screen pyte keeps: what a person at that terminal would read."""

    def __init__(self, width: int, height: int) -> None:
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.closed = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.raw += data
        self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def header(self) -> str:
        return self.screen.display[0]

    async def wait_for(self, text: str, timeout: float = WAIT) -> str:
        await eventually(lambda: text in self.text(), timeout, f"{text!r} on the screen:\n{self.text()}")
        return self.text()

    async def wait_for_output(self, text: bytes, timeout: float = WAIT) -> None:
        await eventually(lambda: text in self.raw, timeout, f"{text!r} in the output")

    async def wait_closed(self, timeout: float = WAIT) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)


class Viewer(Terminal):
    """A viewer connected with asyncssh, on a pseudo-terminal of the size and type asked for."""

    conn: asyncssh.SSHClientConnection
    chan: asyncssh.SSHClientChannel

    @classmethod
    async def connect(cls, port: int, key: asyncssh.SSHKey | None, *, term: str = "xterm-256color",
                      size: tuple[int, int] = (100, 30), username: str = "student", **session) -> Viewer:
        viewer = cls(*size)
        viewer.conn = await asyncssh.connect("127.0.0.1", port, known_hosts=None, username=username,
                                             client_keys=[key] if key else None, agent_path=None,
                                             password=None, kbdint_auth=False)
        viewer.chan, _ = await viewer.conn.create_session(
            lambda: _ClientSession(viewer), term_type=term, term_size=size, encoding=None, **session)
        return viewer

    def send(self, keys: bytes) -> None:
        self.chan.write(keys)

    async def explore(self) -> None:
        """Press f and wait for a process of one's own."""
        self.send(b"f")
        await self.wait_for("exploring (f: back to the lecture)", FIRST_SCREEN)

    def resize(self, width: int, height: int) -> None:
        self.screen.resize(height, width)
        self.chan.change_terminal_size(width, height)

    @property
    def exit_status(self) -> int | None:
        return self.chan.get_exit_status()

    async def close(self) -> None:
        self.conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.conn.wait_closed(), 10)


async def first_screens(port: int, key: asyncssh.SSHKey | None, count: int, **options) -> list[Viewer]:
    """``count`` viewers connected one after the other, each once it shows the first step."""
    viewers = [await Viewer.connect(port, key, **options) for _ in range(count)]
    for viewer in viewers:
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    return viewers


class _ClientSession(asyncssh.SSHClientSession):
    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer

    def data_received(self, data: bytes, datatype) -> None:
        self.viewer.feed(data)

    def connection_lost(self, exc) -> None:
        self.viewer.closed.set()


class PtyProcess(Terminal):
    """A real program (the OpenSSH client, `stepper serve`) on a pseudo-terminal of ours."""

    def __init__(self, argv: list[str], size: tuple[int, int] = (100, 30), env: dict | None = None,
                 cwd: str | Path | None = None) -> None:
        super().__init__(*size)
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        environment = {**os.environ, "TERM": "xterm-256color", **(env or {})}
        for name in ("COLORTERM", "NO_COLOR", "TEXTUAL", "COLUMNS", "LINES"):
            environment.pop(name, None)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=environment, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        os.set_blocking(self.master, False)
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.feed(data)
        else:
            asyncio.get_running_loop().remove_reader(self.master)
            self.closed.set()

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def resize(self, width: int, height: int) -> None:
        """The window is resized: the terminal's size changes and the program hears SIGWINCH."""
        self.screen.resize(height, width)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGWINCH)

    async def wait_exit(self, timeout: float = WAIT) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.proc.args[0]} did not exit within {timeout:g}s:\n{self.text()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)


@pytest.fixture
async def spawn():
    """Start programs on pseudo-terminals; every one is killed (with its process group) afterwards."""
    started: list[PtyProcess] = []

    def start(argv: list[str], **kw) -> PtyProcess:
        proc = PtyProcess(argv, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def openssh(port: int, key_file: Path, *extra: str) -> list[str]:
    """The real OpenSSH client, as a student would run it (host key checks off for throwaway keys)."""
    return ["ssh", "-tt", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-F", "/dev/null", "-p", str(port), "-i", str(key_file),
            *extra, "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def presenter_app(scenario: str = SCENARIO):
    return create_app(load(scenario))


def app_text(app) -> str:
    """What the presenter reads on their own screen, without colour."""
    return screen_text(app)


def stepper_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "stepper", *args]


async def run_presenter(lecture: Lecture, script, size: tuple[int, int] = (100, 30)):
    """The presenter's TUI, driven by Textual's Pilot through the real `present`; returns the app.

    ``script(app, pilot)`` is the lecture; when it returns the presenter presses q, and `present`
    ends the lecture for everyone, exactly as in `stepper serve`.
    """
    from stepper.serve.presenter import present

    app = presenter_app(lecture.config.scenario_path)

    async def drive(link) -> None:
        async with app.run_test(size=size) as pilot:
            link.ready()
            await script(app, pilot)
            await pilot.press("q")

    await present(app, lecture, run=drive)
    return app
