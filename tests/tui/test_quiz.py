"""Predict, then reveal, driven with Pilot: the hidden `?`, the input on it, right and wrong answers and by
how much, Esc, the score, `ask:` and `tolerance:`; and the two methods a class poll uses on the app,
step_value and hide_value, on every bundled scenario."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from stepper.scenario import load
from stepper.tui import create_app
from stepper.tui.quiz import Prediction
from tests.tui.conftest import SCENARIOS, screen_text

# Dropout on [1, 2, 3, 4, 5, 6] with the textbook mask: y = 0, 4, 0, 0, 0, 12.
TEXTBOOK = """
    title: Dropout quiz
    input: {array: [1, 2, 3, 4, 5, 6]}
    layers:
      - type: dropout
        p: 0.5
        mask: [0, 1, 0, 0, 0, 1]
"""


@pytest.fixture
def quiz_app(write_scenario, tmp_path):
    def make(text: str = TEXTBOOK, extra: str = "", quiz: bool = True):
        path = write_scenario(textwrap.dedent(text) + textwrap.indent(textwrap.dedent(extra), "    "))
        app = create_app(load(path), screenshot_dir=tmp_path, quiz=quiz)
        app.animation_level = "none"
        return app

    return make


def narration(app) -> str:
    return " ".join(app._note.split())


def header(app) -> str:
    return screen_text(app).splitlines()[0]


async def answer(pilot, text: str) -> None:
    await pilot.press(*text, "enter")
    await pilot.pause()


async def skip_first(pilot) -> None:
    """Esc on the first question (y = 0), then Right to the second (y = 4)."""
    await pilot.pause()
    await pilot.press("escape", "right")
    await pilot.pause()


async def test_a_question_hides_the_value_and_waits_at_its_cell(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("right")
        assert app.question == 0 and app.position == 0  # the input has the keys: Right moved its cursor
        await skip_first(pilot)
        assert app.question == 1
        text = screen_text(app)
        assert "kept: y = x / (1 - p) = 2 * 2 = ?" in text  # the formula shows ? where 4 would be
        assert "= 4" not in text
        assert "Predict `y`" in narration(app)
        prediction = app.screen.query_one(Prediction)
        assert app.focused is prediction
        # the input sits on the hidden cell: the `?` of the y row, under the element being stepped
        row = text.splitlines()[prediction.region.y]
        assert row.lstrip().startswith("y") and prediction.region.x > 10


async def test_a_right_answer_is_revealed_explained_and_scored(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await skip_first(pilot)
        await answer(pilot, "4")
        assert app.question is None and not app.screen.query(Prediction)
        assert narration(app).startswith("**Right!** `y` = **4**; you said 4: exactly, within 5% or 0.01. How: "
                                         "`x[1] = 2: mask = 1 -> kept: y = x / (1 - p) = 2 * 2 = 4`")
        assert header(app).endswith("score 1/1")
        assert "= 2 * 2 = 4" in screen_text(app)
        await pilot.press("right")  # the keys are the app's again
        assert app.position == 2 and app.question == 2


async def test_a_wrong_answer_says_by_how_much(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await skip_first(pilot)
        await answer(pilot, "5")
        assert narration(app).startswith("**Not quite.** `y` = **4**; you said 5: off by 1 (25.0%), more than 5% "
                                         "or 0.01.")
        assert header(app).endswith("score 0/1")
        await pilot.press("right")
        await answer(pilot, "0")
        assert header(app).endswith("score 1/2")


async def test_escape_skips_without_scoring_and_shows_the_value(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await skip_first(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert narration(app).startswith("**Skipped.** `y` = **4**.")
        assert header(app).endswith("score 0/0") and "= 2 * 2 = 4" in screen_text(app)
        await pilot.press("left", "right")  # an answered or skipped question is not asked again
        assert app.question is None


async def test_a_typo_keeps_the_question_open(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await answer(pilot, "1e")
        assert app.question == 0 and app.verdicts == {}
        assert "type a number" in list(app._notifications)[-1].message
        await pilot.press("backspace", "backspace", "minus", "0", "enter")
        assert app.verdicts[0].right


@pytest.mark.parametrize("extra, guess, right", [
    ("", "4.19", True),  # within 5% of 4
    ("", "4.3", False),
    ("tolerance: 0.1\n", "4.3", True),  # the layer's own
    ("tolerance: {relative: 0, absolute: 0.5}\n", "4.4", True),
])
async def test_tolerance_decides_right_and_wrong(quiz_app, extra, guess, right):
    app = quiz_app(extra=extra)
    async with app.run_test(size=(100, 30)) as pilot:
        await skip_first(pilot)
        await answer(pilot, guess)
        assert app.verdicts[1].right is right


async def test_near_zero_the_absolute_tolerance_decides(quiz_app):
    app = quiz_app(TEXTBOOK.replace("    layers:", "    tolerance: {absolute: 0.05}\n    layers:"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await answer(pilot, "0.04")  # y = 0
        assert app.verdicts[0].right
        await pilot.press("right")
        await pilot.pause()
        await pilot.press("escape", "right")
        await pilot.pause()
        await answer(pilot, "-0.06")
        assert not app.verdicts[2].right


async def test_ask_names_the_steps_that_ask(quiz_app):
    app = quiz_app(extra="ask: [2, {when: x > 5}]\n")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.question is None  # step 1 is not in the list
        await pilot.press("right")
        assert app.question == 1
        await answer(pilot, "4")
        for _ in range(3):
            await pilot.press("right")
            assert app.question is None
        await pilot.press("right")
        assert app.question == 5


async def test_play_waits_for_the_answer(quiz_app):
    app = quiz_app(extra="ask: [4]\n")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*["plus"] * 6, "space")
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.timer:
                break
        assert app.timer is None and app.position == 3 and app.question == 3


async def test_leaving_an_unanswered_question_drops_it(quiz_app):
    app = quiz_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.go(4)
        await pilot.pause()
        assert app.question == 4 and not app.verdicts and header(app).endswith("score 0/0")
        assert len(app.screen.query(Prediction)) == 1


async def test_without_quiz_nothing_is_asked(quiz_app):
    app = quiz_app(quiz=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right")
        assert app.position == 1 and app.question is None and "score" not in header(app)


# --- what a class poll uses: step_value and hide_value -----------------------------------------------------

BUNDLED = sorted(p.name for p in SCENARIOS.glob("*.yaml"))


def first_entry(step) -> float:
    return float(np.ravel(step.values[step.result])[0])


@pytest.mark.parametrize("name", BUNDLED)
async def test_hide_value_hides_a_steps_number_and_shows_it_again(make_app, name):
    app = make_app(name)
    async with app.run_test(size=(100, 30)) as pilot:
        k = len(app.pipeline) // 2
        app.go(k)
        await pilot.pause()
        before = screen_text(app)
        value = app.step_value(k)
        assert value == first_entry(app.pipeline.step(k)[1])
        app.hide_value(k)
        await pilot.pause()
        hidden = screen_text(app)
        assert hidden != before and "?" in hidden
        assert app.position == k and app.question is None  # nothing else changed: no question, same step
        await pilot.press("right", "left")  # the screen otherwise behaves as always
        await pilot.pause()
        assert screen_text(app) == hidden
        app.hide_value(None)
        await pilot.pause()
        assert screen_text(app) == before


async def test_step_value_is_the_output_cell_or_the_first_entry(make_app):
    app = make_app("conv_edges.yaml")
    assert [app.step_value(k) for k in range(6)] == app.pipeline.traces[0].output[0].tolist()
    app = make_app("rnn_chinese.yaml")
    assert app.step_value(3) == app.pipeline.traces[0].output[0, 0]  # h_1[0], at the activation
    assert app.step_value(0) == app.pipeline.traces[0].xu[0, 0]  # (x_1 U)[0]
