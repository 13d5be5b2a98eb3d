"""What a viewer sees: the scenario at their own size and TERM, following the presenter, or exploring."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from stepper.tui.follow import ENDED
from tests.serve.conftest import (FIRST_SCREEN, ROOT, SCENARIO, TOTAL, Viewer, app_text, eventually,
                                  processes_under, run_presenter)

END = b"\x1b[F"  # the End key, as xterm sends it


async def test_viewer_sees_the_scenario_and_follows_two_presenter_steps(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        assert "2-D convolution" in viewer.header() and "· following" in viewer.header()
        await eventually(lambda: "1 following" in app_text(app), what="the presenter's viewer count")
        await pilot.press("right")
        await viewer.wait_for(f"step 2/{TOTAL}")
        await pilot.press("right")
        await viewer.wait_for(f"step 3/{TOTAL} · window · following")
        # Below the header, the viewer's screen is the presenter's screen.
        presenter = [line.rstrip() for line in app_text(app).splitlines()]
        await eventually(lambda: [line.rstrip() for line in viewer.screen.display[1:-1]] == presenter[1:-1],
                         what="the viewer's screen to match the presenter's")
        await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_viewer_keys_do_not_move_the_presenter(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        viewer.send(b"l")  # a follower's step keys only say how to explore
        await viewer.wait_for("f explores on your own")
        viewer.send(b"f")
        await viewer.wait_for(f"step 1/{TOTAL} · window · exploring (f: back to the lecture)")
        await eventually(lambda: app.viewers == (0, 1), what="the presenter's count of explorers")
        viewer.send(b"ll")
        await viewer.wait_for(f"step 3/{TOTAL} · window · exploring")
        viewer.send(END)
        await viewer.wait_for(f"step {TOTAL}/{TOTAL}")
        assert app.position == 0 and f"step 1/{TOTAL}" in app_text(app)
        await pilot.press("right", "right")  # the presenter goes on; the explorer stays where they are
        viewer.send(b"h")
        await viewer.wait_for(f"step {TOTAL - 1}/{TOTAL}")
        viewer.send(b"f")  # back to following: straight to the presenter's step, on the shared screen
        await viewer.wait_for(f"step 3/{TOTAL} · window · following")
        await eventually(lambda: app.viewers == (1, 0) and len(lecture.viewer_pids()) == 1,
                         what="the explorer's process to be gone, the shared screen's left")
        await pilot.press("right")
        await viewer.wait_for(f"step 4/{TOTAL}")
        assert app.position == 3
        await viewer.close()

    await run_presenter(lecture, lecture_script)


async def test_viewer_leaving_and_a_new_one_joining(start_lecture, keys):
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        first = await Viewer.connect(lecture.port, keys.viewer)
        await first.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        await pilot.press("right", "right")
        await first.wait_for(f"step 3/{TOTAL}")
        await eventually(lambda: app.viewers == (1, 0), what="one viewer")
        first.send(b"q")  # the student quits their own screen, not the lecture
        await first.wait_closed()
        assert first.exit_status == 0
        await eventually(lambda: app.viewers == (0, 0), what="the viewer to be gone")
        assert processes_under(lecture.rundir) == lecture.viewer_pids()  # only the shared screen's renderer

        second = await Viewer.connect(lecture.port, keys.viewer)
        await second.wait_for(f"step 3/{TOTAL} · window · following", FIRST_SCREEN)  # joins where the lecture is
        await eventually(lambda: "1 following" in app_text(app), what="the presenter's viewer count")
        await pilot.press("right")
        await second.wait_for(f"step 4/{TOTAL}")
        await second.close()

    await run_presenter(lecture, lecture_script)


async def test_presenter_q_ends_the_lecture_for_every_viewer(start_lecture, keys):
    lecture = start_lecture()
    viewers = []

    async def lecture_script(app, pilot):
        for _ in range(2):
            viewers.append(await Viewer.connect(lecture.port, keys.viewer))
        for viewer in viewers:
            await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        await pilot.press("right")
        for viewer in viewers:
            await viewer.wait_for(f"step 2/{TOTAL}")
        viewers[1].send(b"f")  # one is exploring: the end reaches them too
        await viewers[1].wait_for("exploring")

    app = await run_presenter(lecture, lecture_script)  # the script ends with the presenter's q
    assert app.return_code == 0
    for viewer in viewers:
        await viewer.wait_closed()
        assert viewer.exit_status == 0
        assert ENDED.encode() in viewer.raw
    assert lecture.viewers == set()


async def test_viewer_window_changes_are_followed(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    viewer = await Viewer.connect(lecture.port, keys.viewer, size=(100, 30))
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    assert len(viewer.header().rstrip()) <= 100
    viewer.resize(140, 40)
    await eventually(lambda: len(viewer.header().rstrip()) > 100 and "Quit" in viewer.screen.display[39],
                     what="a redraw at 140x40")
    assert viewer.header().rstrip().endswith("window")  # the right-hand side of the header, at column 140
    await viewer.close()


async def test_viewer_runs_with_its_own_terminal_type(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    rich = await Viewer.connect(lecture.port, keys.viewer, term="xterm-256color")
    plain = await Viewer.connect(lecture.port, keys.viewer, term="xterm")
    for viewer in (rich, plain):
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    terms = set()
    for pid in lecture.viewer_pids():
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        terms.add(env[b"TERM"])
        assert b"COLORTERM" not in env  # nothing of the server's own environment leaks in
    assert terms == {b"xterm-256color", b"xterm"}
    # 256-colour codes wherever they stand in a style (the header's is `1;38;5;...`, the first bytes drawn)
    assert b"38;5;" in rich.raw or b"38;2;" in rich.raw
    assert b"38;2;" not in plain.raw and b"38;5;" not in plain.raw and b"48;5;" not in plain.raw  # 16 colours only
    for viewer in (rich, plain):
        await viewer.close()


async def test_headless_viewers_each_step_on_their_own(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    one = await Viewer.connect(lecture.port, keys.viewer)
    two = await Viewer.connect(lecture.port, keys.viewer)
    for viewer in (one, two):
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        assert "following" not in viewer.header()
    one.send(b"ll")
    await one.wait_for(f"step 3/{TOTAL}")
    two.send(b"l")
    await two.wait_for(f"step 2/{TOTAL}")
    assert f"step 3/{TOTAL}" in one.header()
    for viewer in (one, two):
        await viewer.close()


async def test_viewers_see_the_scenario_as_it_was_when_the_lecture_began(start_lecture, keys, tmp_path):
    path = tmp_path / "lecture.yaml"
    path.write_text(Path(SCENARIO).read_text(encoding="utf-8"), encoding="utf-8")
    lecture = start_lecture(scenario_path=str(path), presenter=False)
    path.write_text((ROOT / "scenarios" / "pooling.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)  # not pooling's 18 steps: the presenter's scenario
    assert "2-D convolution" in viewer.header()
    await viewer.close()


async def test_viewer_processes_run_below_the_presenters_priority(start_lecture, keys):
    lecture = start_lecture(presenter=False)
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    [pid] = lecture.viewer_pids()
    assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)
    await viewer.close()


async def test_viewer_screenshot_key_writes_nothing_on_the_server(start_lecture, keys):
    """`s` from a student would fill the lecturer's disk with files the student cannot fetch."""
    lecture = start_lecture()

    async def lecture_script(app, pilot):
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
        viewer.send(b"s")  # following: a hint, nothing else
        await viewer.wait_for("f explores on your own")
        viewer.send(b"f")
        await viewer.wait_for("exploring", FIRST_SCREEN)
        viewer.send(b"s" * 20)
        await viewer.wait_for("lecturer's machine")
        assert written_files(lecture.rundir) == []
        await viewer.close()

    await run_presenter(lecture, lecture_script)


def written_files(folder: str) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names if not name.endswith(".sock")
            and name != os.path.basename(SCENARIO)]


async def test_headless_viewers_write_no_files(start_lecture, keys):
    """Without a presenter too: no screenshot, no palette entry for one, no byte-code cache."""
    lecture = start_lecture(presenter=False)
    viewer = await Viewer.connect(lecture.port, keys.viewer)
    await viewer.wait_for(f"step 1/{TOTAL}", FIRST_SCREEN)
    viewer.send(b"s" * 10)
    await viewer.wait_for("lecturer's machine")
    viewer.send(b"\x10")  # Ctrl+P: the palette offers no screenshot
    await viewer.wait_for("Go to step")
    viewer.send(b"Screensh")
    await asyncio.sleep(1)
    assert "Save an SVG" not in viewer.text()
    viewer.send(b"\x15Go to")  # the palette itself works: the same search finds other commands
    await viewer.wait_for("Jump to a step number")
    [pid] = lecture.viewer_pids()
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert b"PYTHONDONTWRITEBYTECODE=1" in f.read().split(b"\0")
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[1] == b"-B"
    assert written_files(lecture.rundir) == []
    await viewer.close()


async def test_viewer_joining_late_sees_the_presenters_dropout_tally(start_lecture, keys):
    """Four fresh samples and a switch to eval and back on the presenter's screen; a student who
    connects afterwards sees the same coins and the same tally over the samples since the switch."""
    lecture = start_lecture(scenario_path=str(ROOT / "scenarios" / "dropout_textbook.yaml"))

    async def lecture_script(app, pilot):
        await pilot.press("end", "r", "r", "r", "e", "e", "r")
        await pilot.pause()
        assert app.lecture_state() == "5 0:4:train:3"
        assert "over all 2 samples drawn" in app_text(app)
        viewer = await Viewer.connect(lecture.port, keys.viewer)
        await viewer.wait_for("over all 2 samples drawn", FIRST_SCREEN)
        presenter = [line.rstrip() for line in app_text(app).splitlines()]
        await eventually(lambda: [line.rstrip() for line in viewer.screen.display[1:-1]] == presenter[1:-1],
                         what="the viewer's screen, tally included, to match the presenter's")
        await viewer.close()

    await run_presenter(lecture, lecture_script)
