"""The quiz and breakpoints in the real `stepper run`, in tmux at 80x24: the keys as a terminal sends them."""

from __future__ import annotations

from tests.tui.conftest import SCENARIOS
from tests.tui.test_terminal import pytestmark, tmux  # noqa: F401  (the tmux fixture, skipped without tmux)


def test_terminal_quiz_and_breakpoints(tmux):  # noqa: F811
    t = tmux("run", str(SCENARIOS / "dropout_textbook.yaml"), "--quiz")
    t.wait_for("Predict")
    screen = t.wait_for("-> dropped: y = ?")  # the formula with its numbers, the result hidden
    assert "score 0/0" in screen
    t.keys("0", "Enter")
    screen = t.wait_for("score 1/1")
    assert "Right!" in screen
    t.keys("Right")
    t.wait_for("step 2/6")
    t.keys("Escape")
    screen = t.wait_for("Skipped.")
    t.keys("b")
    screen = t.wait_for("● break · b 2")
    t.keys("Home", "n")
    t.wait_for("step 2/6")
    t.keys("End", "N")
    screen = t.wait_for("step 2/6")
    assert "score 1/1" in screen
    t.keys("q")
    assert t.exit_status() == 0
