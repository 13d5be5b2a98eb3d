"""The real `stepper run` in a real terminal (tmux at 80x24): what a lecturer sees and types."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.tui.conftest import SCENARIOS

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")


class Tmux:
    """One detached tmux session running a command, read with capture-pane."""

    def __init__(self, command: str, cols: int = 80, rows: int = 24) -> None:
        self.name = f"stepper-{uuid.uuid4().hex[:8]}"
        self.done = Path(tempfile.gettempdir()) / f"{self.name}.rc"
        wrapped = f"{command}; echo $? > {self.done}; sleep 60"  # the pane stays to be read
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(cols), "-y", str(rows),
                        "-e", "TERM=xterm-256color", "bash", "-c", wrapped], check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.done.exists() and self.done.read_text().strip():
                return int(self.done.read_text())
            time.sleep(0.1)
        raise AssertionError("the program did not exit")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
        self.done.unlink(missing_ok=True)


@pytest.fixture
def tmux():
    sessions = []

    def start(*args: str, cols: int = 80, rows: int = 24) -> Tmux:
        command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "stepper", *args))
        session = Tmux(command, cols, rows)
        sessions.append(session)
        return session

    yield start
    for s in sessions:
        s.close()


def test_terminal_rnn_lecture_at_80x24(tmux):
    t = tmux("run", str(SCENARIOS / "rnn_chinese.yaml"))
    screen = t.wait_for("你 个 扑 该 !")  # the RNN view, drawn once the layout has its size
    assert "step 1/20" in screen  # CJK tokens, two cells each, in one line
    assert "49,280" in screen
    t.keys("Right")
    screen = t.wait_for("step 2/20")
    assert "h_{t-1} W" in screen
    t.keys("End")
    screen = t.wait_for("step 20/20")
    assert "h_5" in screen  # the unrolled strip has grown to the last time step
    t.keys("q")
    assert t.exit_status() == 0


def test_terminal_bad_file_prints_the_error_and_no_tui(tmux, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ninput:\n  array: [1, 2]\nlayers:\n  - type: dropout\n    p: 1.5\n")
    t = tmux("run", str(bad))
    assert t.exit_status() == 2
    screen = t.screen()
    assert f"{bad}:6:8: p is 1.5" in screen
    assert "Traceback" not in screen
