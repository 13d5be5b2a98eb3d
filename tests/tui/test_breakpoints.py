"""Breakpoints in the TUI, driven with Pilot: b toggles, n and N go to the next and previous hit, play
stops at one, the header names the ones set with b, and the command palette lists and clears them."""

from __future__ import annotations

import textwrap

import pytest

from stepper.scenario import load
from stepper.tui import create_app
from tests.test_breaks import large_convolution
from tests.tui.conftest import screen_text

# Two layers: an RNN over four tokens (16 steps, 4 per time step), then a dropout (8 steps).
SCENARIO = """
    title: Breakpoints
    input: {text: "abcd", embed: 3}
    layers:
      - type: rnn
        hidden: 2
        breakpoints: BREAKS
      - type: dropout
        p: 0.5
        mask: [[1, 0], [0, 1], [1, 1], [0, 0]]
"""


@pytest.fixture
def app_with(write_scenario, tmp_path):
    def make(breaks: str = "[]", **kw):
        path = write_scenario(textwrap.dedent(SCENARIO.replace("BREAKS", breaks)))
        app = create_app(load(path), screenshot_dir=tmp_path, **kw)
        app.animation_level = "none"
        return app

    return make


async def test_b_sets_and_clears_a_breakpoint_shown_in_the_header(app_with):
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "right", "b")
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert "● break · b 3" in header
        await pilot.press("right", "right", "b", "right")
        await pilot.pause()
        assert screen_text(app).splitlines()[0].endswith("· b 3 5")
        await pilot.press("left", "b")
        await pilot.pause()
        assert screen_text(app).splitlines()[0].endswith("· b 3")


async def test_n_and_capital_n_go_to_the_next_and_previous_hit(app_with):
    app = app_with("[3, {when: t == 3 and step == 12}]")  # local 3; t = 3's activation is step 12
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert app.position == 2
        await pilot.press("n")
        assert app.position == 11
        await pilot.press("end", "b", "home", "n", "n", "n")
        assert app.position == len(app.pipeline) - 1  # the one set with b, in the dropout layer
        await pilot.press("N")
        assert app.position == 11
        await pilot.press("N", "N")
        assert app.position == 2
        await pilot.pause()
        assert "no breakpoint before step 3" in [n.message for n in app._notifications]


async def test_b_silences_a_breakpoint_of_the_file(app_with):
    app = app_with("[3, 6]")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert app.position == 2
        await pilot.press("b", "home", "n")
        assert app.position == 5


async def test_play_stops_at_a_breakpoint(app_with):
    app = app_with("[{when: t == 2}]")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*["plus"] * 6, "space")  # 32 steps per second
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.timer:
                break
        assert app.timer is None and app.position == 4  # the first step of t = 2
        assert "● break" in screen_text(app).splitlines()[0]
        await pilot.press("space")  # play goes on from a breakpoint
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.timer:
                break
        assert app.position == 5


async def test_palette_lists_breakpoints_and_goes_to_one(app_with):
    app = app_with("[7, {when: t == 4}]")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end", "b", "home")
        app.action_breakpoints()
        await pilot.pause()
        text = screen_text(app)
        assert "step 7: layer 1 rnn, its step 7 (the file)" in text
        assert "layer 1 rnn: when t == 4 (the file)" in text
        assert f"step {len(app.pipeline)}: set with b" in text
        await pilot.press("down", "enter")  # the condition: its next step from here
        await pilot.pause()
        assert app.position == 12


async def test_palette_clears_the_breakpoints_set_with_b(app_with):
    app = app_with("[7]")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right", "b", "right", "b")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Breakpoints" in titles and "Clear breakpoints set with b" in titles
        app.action_clear_breakpoints()
        await pilot.press("home", "n")
        assert app.position == 6
        assert " b " not in screen_text(app).splitlines()[0]


async def test_n_on_a_large_convolution_searches_in_a_thread(write_scenario, tmp_path):
    text = large_convolution("[{when: o == 6 and i == 100 and j == 3}]")
    app = create_app(load(write_scenario(text)), screenshot_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert app.position == 0  # the search goes on in a thread; the screen stays live
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.position == 6 * 128 * 128 + 100 * 128 + 3


async def test_no_breakpoints_leave_the_header_as_it_was(app_with):
    app = app_with()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        assert app.position == 0
        assert "break" not in screen_text(app).splitlines()[0]
        assert "no breakpoint after step 1" in [n.message for n in app._notifications]
