"""A lecture hall: followers share one renderer per view class; explorers have a process of their own."""

from __future__ import annotations

import asyncio
import time

from stepper.serve.screen import LADDER, colour_depth, rung_for
from tests.serve.conftest import FIRST_SCREEN, TOTAL, Viewer, app_text, eventually, first_screens, run_presenter


def cells(viewer: Viewer, columns: int, lines: int) -> list[list[tuple]]:
    """Every cell of the top-left ``columns`` x ``lines``: character, colours and attributes."""
    return [[tuple(viewer.screen.buffer[y][x]) for x in range(columns)] for y in range(lines)]


def test_hall_view_classes_are_the_largest_rung_that_fits():
    assert rung_for(80, 24) == (80, 24)
    assert rung_for(99, 40) == (80, 24)
    assert rung_for(100, 30) == (100, 30)
    assert rung_for(300, 100) == (200, 60)
    assert rung_for(200, 20) == (60, 18)  # wide but short: the height decides
    assert rung_for(59, 40) is None
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(LADDER, LADDER[1:]))
    assert colour_depth("xterm-256color", {}) == "256"
    assert colour_depth("xterm-256color", {"COLORTERM": "truecolor"}) == "truecolor"
    assert colour_depth("xterm", {}) == "16"
    assert colour_depth("xterm-256color", {"NO_COLOR": "1"}) == "mono"


async def test_hall_a_late_joiner_sees_exactly_what_a_continuous_follower_sees(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        early = await Viewer.connect(lecture.port, keys.viewer)
        await early.wait_for(f"step 1/{TOTAL} · window · following", FIRST_SCREEN)
        for step in range(2, 8):
            await pilot.press("right")
            await early.wait_for(f"step {step}/{TOTAL}")
        late = await Viewer.connect(lecture.port, keys.viewer)
        await late.wait_for(f"step 7/{TOTAL}")
        # The same class (100x30, 256 colours): the same cells, colours and attributes, not only text.
        await eventually(lambda: cells(late, 100, 30) == cells(early, 100, 30),
                         what="the late joiner's screen to equal the follower's")
        presenter = [line.rstrip() for line in app_text(app).splitlines()]
        assert [line.rstrip() for line in late.screen.display[1:-1]] == presenter[1:-1]
        # One renderer process serves both.
        assert len(lecture.viewer_pids()) == 1
        await pilot.press("right")
        for viewer in (early, late):
            await viewer.wait_for(f"step 8/{TOTAL}")
        await eventually(lambda: cells(late, 100, 30) == cells(early, 100, 30), what="both at step 8")
        for viewer in (early, late):
            await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hall_a_resize_moves_a_follower_to_another_class_at_once(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer, size=(100, 30))
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        await pilot.press("right")
        await viewer.wait_for(f"step 2/{TOTAL}")
        viewer.resize(90, 26)  # fits 80x24: drawn at the top left, the rest blank
        await eventually(lambda: "leave the lecture" in viewer.screen.display[23]
                         and f"step 2/{TOTAL}" in viewer.header(),
                         FIRST_SCREEN, f"the 80x24 screen:\n{viewer.text()}")
        assert all(line[80:].strip() == "" for line in viewer.screen.display)
        assert viewer.screen.display[24].strip() == "" and "leave the lecture" not in viewer.screen.display[25]
        viewer.resize(150, 45)  # fits 120x40, with a note below it
        await eventually(lambda: "leave the lecture" in viewer.screen.display[39], FIRST_SCREEN,
                         f"the 120x40 screen:\n{viewer.text()}")
        await viewer.wait_for("the lecture at 120x40, the largest view that fits your 150x45 window")
        viewer.resize(50, 15)  # too small for any class: told so
        await viewer.wait_for("50x15 is too small to follow the lecture")
        viewer.resize(100, 30)
        await eventually(lambda: "leave the lecture" in viewer.screen.display[29], FIRST_SCREEN, "back at 100x30")
        await pilot.press("right")
        await viewer.wait_for(f"step 3/{TOTAL}")
        sizes = sorted(lecture.renderers)
        assert sizes == [(80, 24), (100, 30), (120, 40)]  # one renderer per class that was needed
        await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hall_each_follower_gets_its_own_colour_depth(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        plain = await Viewer.connect(lecture.port, keys.viewer, term="xterm")
        rich = await Viewer.connect(lecture.port, keys.viewer, term="xterm-256color")
        true = await Viewer.connect(lecture.port, keys.viewer, env={"COLORTERM": "truecolor"})
        for viewer in (plain, rich, true):
            await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        assert b"\x1b[38;2;" not in plain.raw and b"\x1b[38;5;" not in plain.raw and b";3" in plain.raw
        assert b"38;5;" in rich.raw and b"38;2;" not in rich.raw
        assert b"38;2;" in true.raw
        await eventually(lambda: plain.screen.display == rich.screen.display == true.screen.display,
                         what="the same text on all three")
        assert len(lecture.viewer_pids()) == 1  # and one renderer for all three
        for viewer in (plain, rich, true):
            await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hall_explorers_are_capped_and_the_rest_keep_following(start_lecture, keys):
    lecture = start_lecture(max_explorers=1)

    async def lecture_script(app, pilot):
        one, two = await first_screens(lecture.port, keys.viewer, 2)
        await one.explore()
        two.send(b"f")
        await two.wait_for("All 1 places to explore on your own are taken: you keep following.")
        await eventually(lambda: app.viewers == (1, 1), what="the presenter's count")
        assert "1 following · 1 exploring" in app_text(app)
        await pilot.press("right")
        await two.wait_for(f"step 2/{TOTAL} · window · following")
        assert f"step 1/{TOTAL}" in one.header()  # the explorer stays where they are
        one.send(b"f")  # back: the place is free again
        await one.wait_for(f"step 2/{TOTAL} · window · following", FIRST_SCREEN)
        await two.explore()
        roster = lecture.roster()
        assert sorted(mode for _, _, mode, _ in roster) == ["exploring", "following"]
        assert {view for _, view, _, _ in roster} == {"100x30 256", "100x30 256 (own)"}
        assert {name for name, _, _, _ in roster} == {"viewer@test"}  # the key's comment: who it is
        await pilot.press("ctrl+p")
        await pilot.press(*"Who is watching")
        await pilot.press("enter")
        await eventually(lambda: "1 following, 1 exploring" in app_text(app), what="the roster on the presenter's screen")
        assert app_text(app).count("viewer@test") == 2
        await pilot.press("escape")
        for viewer in (one, two):
            await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hall_a_stalled_follower_delays_nobody_and_catches_up_with_the_latest_screen(start_lecture, keys):
    lecture = start_lecture(outbound_limit=4096, stall_timeout=60)

    async def lecture_script(app, pilot):
        [stalled] = await first_screens(lecture.port, keys.viewer, 1, window=8192)
        others = await first_screens(lecture.port, keys.viewer, 3)

        async def steps(first: int, last: int) -> list[float]:
            took = []
            for step in range(first, last + 1):
                pressed = time.monotonic()
                await pilot.press("right")
                for viewer in others:
                    await viewer.wait_for(f"step {step}/{TOTAL}")
                took.append(time.monotonic() - pressed)
            return took

        before = await steps(2, 6)
        stalled.chan.pause_reading()  # takes nothing more: its SSH window closes, its queue fills
        during = await steps(7, 16)
        # Measured, not timed against a clock: the others follow as fast with a stalled neighbour.
        assert sorted(during)[len(during) // 2] < max(before) * 3 + 0.5, (before, during)
        assert f"step 16/{TOTAL}" not in stalled.header()
        stalled.chan.resume_reading()
        await stalled.wait_for(f"step 16/{TOTAL}")  # the latest screen at once, not the frames it missed
        await eventually(lambda: cells(stalled, 100, 30) == cells(others[0], 100, 30), what="the same screen")
        for viewer in (stalled, *others):
            await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_hall_a_hundred_followers_share_a_few_renderers(start_lecture, keys):
    lecture = start_lecture()
    sizes = [(80, 24), (100, 30), (132, 43), (90, 28)]

    async def lecture_script(app, pilot):
        viewers: list[Viewer] = []
        for batch in range(4):
            viewers += await asyncio.gather(*(Viewer.connect(lecture.port, keys.viewer, size=sizes[i % 4])
                                              for i in range(batch * 25, batch * 25 + 25)))
        for viewer in viewers:
            await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        await eventually(lambda: app.viewers == (100, 0), what="100 followers on the presenter's header")
        for step in (2, 3):
            await pilot.press("right")
            for viewer in viewers:
                await viewer.wait_for(f"step {step}/{TOTAL}")
        assert len(lecture.viewer_pids()) == 3  # 80x24, 100x30 and 120x40: three processes for 100 students
        assert sorted(lecture.renderers) == [(80, 24), (100, 30), (120, 40)]
        await asyncio.gather(*(viewer.close() for viewer in viewers))

    await run_presenter(lecture, lecture_script)
