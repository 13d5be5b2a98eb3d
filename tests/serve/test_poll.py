"""The class poll: the presenter asks, followers type predictions, the presenter sees them come in."""

from __future__ import annotations

import asyncio
import json
import time

from stepper.serve.poll import Prompt, Question, histogram, number, right, verdict
from tests.serve.conftest import FIRST_SCREEN, TOTAL, Viewer, app_text, eventually, first_screens, run_presenter


def test_poll_answers_are_numbers_of_at_most_32_characters():
    assert number("0.5") == 0.5 and number("-1e-3") == -0.001
    assert number("nan") is None and number("1e999") is None and number("1..2") is None
    prompt = Prompt(Question(1, 0, 0.25, "step 1"))
    for key in b"0.2x5A[":  # other keys are not part of a number
        prompt.key(bytes([key]))
    assert prompt.text == "0.25"
    prompt.key(b"\x7f")
    assert prompt.text == "0.2"
    prompt.text = ""
    for key in b"1" * 100:
        prompt.key(bytes([key]))
    assert len(prompt.text) == 32
    assert prompt.key(b"\r") == "send" and prompt.sent == float("1" * 32)
    assert prompt.key(b"\r") is None  # at most one answer a second counts


def test_poll_grading_and_histogram():
    assert right(0.73, 0.7311) and right(0.005, 0.0) and not right(0.6, 0.7311)
    assert "right!" in verdict(Question(1, 0, 0.7311, ""), 0.73)
    assert "off by 0.131" in verdict(Question(1, 0, 0.7311, ""), 0.6)
    assert "did not answer" in verdict(Question(1, 0, 0.7311, ""), None)
    bins = histogram([0.1, 0.1, 0.2, 0.9], 0.5)
    assert sum(count for *_, count, _ in bins) == 4 and sum(marked for *_, marked in bins) == 1
    assert [low <= 0.5 <= high for low, high, _, marked in bins if marked] == [True]


async def test_poll_followers_predict_and_the_presenter_sees_the_histogram(start_lecture, keys, tmp_path):
    log = tmp_path / "poll.jsonl"
    lecture = start_lecture(poll_log=str(log))

    async def lecture_script(app, pilot):
        viewers = await first_screens(lecture.port, keys.viewer, 3)
        await pilot.press("right", "right")
        for viewer in viewers:
            await viewer.wait_for(f"step 3/{TOTAL}")
        value = app.step_value(2)
        assert value is not None
        await pilot.press("p")
        for viewer in viewers:
            await viewer.wait_for("Predict the hidden value ?")
        assert "?" in app_text(app)
        await eventually(lambda: "0 of 3 answered" in app_text(app), what="the presenter's poll panel")
        viewers[0].send(f"{value:.6g}\r".encode())
        viewers[1].send(f"{value + 100:g}\r".encode())
        await eventually(lambda: "2 of 3 answered" in app_text(app), what="two answers counted")
        viewers[2].send(b"\x1b")  # skips
        for _ in range(50):  # one student sends many: one answer counts, and the presenter keeps stepping
            viewers[1].send(b"1\r")
        await pilot.press("p")  # reveal
        await viewers[0].wait_for("right!")
        await viewers[1].wait_for("off by")
        await viewers[2].wait_for("You did not answer")
        await eventually(lambda: "1 right" in app_text(app), what="the revealed histogram")
        assert "◀" in app_text(app)
        await pilot.press("p")  # the panel closes
        await pilot.press("right")
        for viewer in viewers:
            await viewer.wait_for(f"step 4/{TOTAL}")
        for viewer in viewers:
            await viewer.close()

    await run_presenter(lecture, lecture_script)
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["answered"] == 2 and record["right"] == 1 and record["step"] == 3
    assert "student" not in log.read_text()  # anonymous


async def test_poll_a_late_joiner_is_asked_too_and_stepping_on_reveals(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        [first] = await first_screens(lecture.port, keys.viewer, 1)
        await pilot.press("right")
        await pilot.press("p")
        await first.wait_for("Predict the hidden value ?")
        late = await Viewer.connect(lecture.port, keys.viewer)  # joins at the presenter's step 2
        await late.wait_for(f"step 2/{TOTAL}", FIRST_SCREEN)
        await late.wait_for("Predict the hidden value ?")
        late.send(b"0\r")
        await eventually(lambda: "1 of 2 answered" in app_text(app), what="the late joiner's answer")
        await pilot.press("right")  # stepping on reveals
        await late.wait_for("The value is")
        await first.wait_for("You did not answer")
        await asyncio.sleep(0.2)
        assert app.asking is None
        for viewer in (first, late):
            await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_poll_a_flood_of_answers_does_not_slow_the_presenter(start_lecture, keys):
    """One student sends megabytes of digits and Enters while a question is open: the presenter's
    steps reach the other followers as fast as before (measured), and that student counts once."""
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        flooder, *others = await first_screens(lecture.port, keys.viewer, 3)

        async def step_time(step: int) -> float:
            pressed = time.monotonic()
            await pilot.press("right")
            for viewer in others:
                await viewer.wait_for(f"step {step}/{TOTAL}")
            return time.monotonic() - pressed

        before = [await step_time(step) for step in (2, 3, 4)]
        await pilot.press("p")
        await flooder.wait_for("Predict the hidden value ?")

        async def flood() -> None:
            for _ in range(40):  # 40 x 64 kB of answers
                flooder.send(b"12345\r" * 10922)
                await asyncio.sleep(0.05)

        flooding = asyncio.create_task(flood())
        await asyncio.sleep(0.5)
        summary = lecture.poll_summary()
        assert summary["answered"] == 1  # one student, one answer, however many they send
        during = await step_time(5)  # stepping on reveals, and moves everyone
        await flooding
        assert during < max(before) * 3 + 0.5, (before, during)
        for viewer in (flooder, *others):
            await viewer.close()

    await run_presenter(lecture, lecture_script)
