"""The TUI driven with Textual's Pilot: every family opens and steps, and the key map does what it says."""

from __future__ import annotations

import gc
import random

import numpy as np
import pytest

from tests.tui.conftest import SCENARIOS, screen_text

BUNDLED = sorted(p.name for p in SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_app_every_scenario_opens_and_steps(make_app, name, size):
    app = make_app(name)
    async with app.run_test(size=size) as pilot:
        total = len(app.pipeline)
        assert f"step 1/{total}" in screen_text(app)
        for _ in range(3):
            await pilot.press("right")
        assert app.position == min(3, total - 1)
        await pilot.press("end")
        assert app.position == total - 1
        assert f"step {total}/{total}" in screen_text(app)
        await pilot.press("home")
        assert app.position == 0


@pytest.mark.parametrize("name", BUNDLED)
async def test_app_right_then_left_restores_the_screen(make_app, name):
    app = make_app(name)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right", "right")
        await pilot.pause()
        before = screen_text(app)
        await pilot.press("right")
        await pilot.pause()
        assert screen_text(app) != before
        await pilot.press("left")
        await pilot.pause()
        assert screen_text(app) == before


@pytest.mark.parametrize("name", ["rnn_chinese.yaml", "norm_compare.yaml", "conv_dilated.yaml"])
async def test_app_end_then_home_restores_the_screen(make_app, name):
    app = make_app(name)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = screen_text(app)
        await pilot.press("end")
        await pilot.pause()
        assert screen_text(app) != before
        await pilot.press("home")
        await pilot.pause()
        assert screen_text(app) == before


async def test_app_rnn_shows_tokens_shapes_and_parameters(make_app):
    app = make_app("rnn_chinese.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right", "right")  # step 3: + b, the pre-activation
        await pilot.pause()
        text = screen_text(app)
        assert "你 个 扑 该 !" in text
        assert "49,280" in text
        assert "U 256x128" in text and "W 128x128" in text
        step = app.pipeline.step(2)[1]
        assert step.phase == "bias"
        a0 = step.values["a_t"][0]
        assert f"= {a0:.4g}" in text  # the live formula substitutes the real number
        assert "units 0-8/128" in text


async def test_app_keys_move_as_documented(make_app):
    app = make_app("rnn_chinese.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        assert app.position == 1
        await pilot.press("h")
        assert app.position == 0
        await pilot.press("shift+right")
        assert app.position == 4  # the next time step: four phases per step
        await pilot.press("shift+right", "right")
        assert app.position == 9
        await pilot.press("shift+left")
        assert app.position == 8  # back to the start of this time step
        await pilot.press("shift+left")
        assert app.position == 4
        await pilot.press("g", "1", "7", "enter")
        await pilot.pause()
        assert app.position == 16
        await pilot.press("right_square_bracket")
        assert "units 9-17/128" in screen_text(app)
        await pilot.press("left_square_bracket")
        assert "units 0-8/128" in screen_text(app)


async def test_app_tab_moves_between_layers(make_app):
    app = make_app("pipeline.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("tab")
        assert app.position == app.pipeline.start(1)
        assert "layer 2/3 layernorm" in screen_text(app)
        await pilot.press("tab")
        assert app.position == app.pipeline.start(2)
        await pilot.press("right", "shift+tab")
        assert app.position == app.pipeline.start(2)
        await pilot.press("shift+tab")
        assert app.position == app.pipeline.start(1)


async def test_app_dropout_resample_and_eval(make_app):
    app = make_app("dropout_textbook.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        trace = app.pipeline.traces[0]
        assert trace.output.tolist() == [0, 4, 0, 0, 0, 12]
        await pilot.press("r")
        await pilot.pause()
        assert app.tallies[0].samples == 2
        assert "over all 2 samples drawn" in screen_text(app)
        fresh = app.pipeline.traces[0]
        assert fresh.u is not None  # new coins replace the textbook mask
        assert fresh.output.tolist() == [x * 2 if k else 0 for x, k in zip([1, 2, 3, 4, 5, 6], fresh.keep)]
        for _ in range(40):
            await pilot.press("r")
        tally = app.tallies[0]
        mean = tally.total / tally.samples
        assert tally.samples == 42
        assert abs(mean - [1, 2, 3, 4, 5, 6]).max() < 6  # a loose bound: each mean is x * (kept share * 2)
        await pilot.press("e")
        await pilot.pause()
        assert app.pipeline.layers[0].mode == "eval"
        assert app.pipeline.traces[0].output.tolist() == [1, 2, 3, 4, 5, 6]
        assert "dropout eval" in screen_text(app)


async def test_app_play_advances_and_pauses(make_app):
    app = make_app("conv_edges.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("plus", "plus", "plus", "space")
        await pilot.pause(0.5)
        await pilot.press("space")
        moved = app.position
        assert moved > 0
        await pilot.pause(0.3)
        assert app.position == moved


async def test_app_help_screen_lists_the_keys(make_app):
    app = make_app("conv_edges.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert "Shift+Right" in text and "go to step" in text
        await pilot.press("escape")
        await pilot.pause()
        assert "Shift+Right" not in screen_text(app)


async def test_app_too_small_says_so_and_recovers(make_app):
    app = make_app("rnn_chinese.yaml")
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        assert "too small" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        text = screen_text(app)
        assert "too small" not in text and "step 1/20" in text


async def test_app_screenshot_key_writes_an_svg(make_app, tmp_path):
    app = make_app("conv_edges.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right", "s")
        await pilot.pause()
    files = list(tmp_path.glob("*.svg"))
    assert [f.name for f in files] == ["conv_edges-layer1-step000002.svg"]
    assert files[0].read_text().startswith("<svg")


async def test_app_quit_returns_zero(make_app):
    app = make_app("rnn_chinese.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_app_conv_window_padding_and_output(make_app):
    app = make_app("conv_dilated.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "0·" in text  # padding cells are marked apart from data
        assert "H' = floor((9 + 2*2 - 2*(3-1) - 1)/2) + 1 = 5" in text
        await pilot.press("c")
        assert "input ch 2/2" in screen_text(app)


async def test_app_norm_compare_side_by_side(make_app):
    app = make_app("norm_compare.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("shift+right")  # from the means to the variances
        await pilot.pause()
        text = screen_text(app)
        assert "batchnorm" in text and "layernorm" in text
        assert "var[feature 1]" in text
        assert "+3.50" in text  # feature 1 (1, 2, 3, 6): biased variance 3.5


@pytest.mark.parametrize("seed", range(4))
async def test_app_random_keys_never_raise(make_app, seed):
    rng = random.Random(seed)
    names = BUNDLED
    keys = ["right", "left", "l", "h", "shift+right", "shift+left", "home", "end", "tab", "shift+tab",
            "plus", "minus", "r", "e", "c", "f", "left_square_bracket", "right_square_bracket",
            "left_curly_bracket", "right_curly_bracket", "question_mark", "escape", "g", "5", "enter", "x"]
    app = make_app(rng.choice(names))
    sizes = [(80, 24), (60, 18), (40, 10), (120, 40), (200, 60)]
    async with app.run_test(size=rng.choice(sizes)) as pilot:
        for i in range(60):
            if i % 20 == 0:
                await pilot.resize_terminal(*rng.choice(sizes))
            await pilot.press(rng.choice(keys))
        await pilot.pause()
        assert 0 <= app.position < len(app.pipeline)


async def test_app_viewer_applying_lecture_state_shows_the_presenters_sample(make_app):
    presenter, viewer = make_app("pipeline.yaml"), make_app("pipeline.yaml", follow="unused")
    async with presenter.run_test(size=(80, 24)) as p:
        await p.press("tab", "tab", "r", "r", "right")
        state = presenter.lecture_state()
        assert state == f"{presenter.position} 2:2:train"
        await p.press("e")
        assert presenter.lecture_state() == f"{presenter.position} 2:2:eval:2"
        await p.press("e")
        await p.pause()
        expected = presenter.pipeline.traces[2].output
        presenter_screen = screen_text(presenter)
    viewer_screen = None
    async with viewer.run_test(size=(80, 24)) as v:
        await v.pause()  # its follow channel does not exist: it starts out exploring
        viewer.following = True
        viewer.presenter_at(state)
        await v.pause()
        assert viewer.position == presenter.position
        assert (viewer.pipeline.traces[2].output == expected).all()
        viewer_screen = screen_text(viewer)
        viewer.presenter_at("0")  # back to the file's own coins
        assert viewer.samples[2] == 0 and viewer.position == 0
    rows = lambda text: [line for line in text.splitlines() if line.startswith((" x ", " u ~", " keep?", " y "))]
    assert len(rows(viewer_screen)) == 4
    assert rows(viewer_screen) == rows(presenter_screen)


async def test_app_resumes_a_collector_paused_for_start_up(make_app):
    """`stepper run` pauses the cyclic collector while it starts; the app resumes it after its first frame."""
    app = make_app("rnn_chinese.yaml")
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert gc.isenabled()
            assert gc.get_freeze_count() > frozen  # what start-up built is kept out of later collections
            assert "h_{t-1} W" in screen_text(app)
    finally:
        gc.enable()
        gc.unfreeze()


async def test_app_leaves_a_running_collector_alone(make_app):
    app = make_app("rnn_chinese.yaml")
    frozen = gc.get_freeze_count()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert gc.isenabled() and gc.get_freeze_count() == frozen


async def test_app_viewer_screenshots_are_refused(make_app, tmp_path):
    """A viewer of `stepper serve` cannot fetch files from the lecturer's machine, so none are written
    there: neither `s` nor the palette's Screenshot fills the server's disk."""
    app = make_app("conv_edges.yaml", follow="unused")
    told = []
    notify = app.notify
    app.notify = lambda message, **kw: (told.append(message), notify(message, **kw))[1]
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(5):
            await pilot.press("s")
        await pilot.pause()
        assert sum("the lecturer's machine" in message for message in told) == 5
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Screenshot" not in titles and "Go to step" in titles
    assert list(tmp_path.iterdir()) == []
    presenter = make_app("conv_edges.yaml")
    async with presenter.run_test(size=(100, 30)):
        assert "Screenshot" in [c.title for c in presenter.get_system_commands(presenter.screen)]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)])
@pytest.mark.parametrize("name", ["rnn_chinese.yaml", "pipeline.yaml", "conv1d_text.yaml"])
async def test_app_narration_is_never_cut_and_changes_without_layout_when_it_can(make_app, name, size, monkeypatch):
    """Every note gets its full height (at least the panel's); a note that keeps the height it has is
    swapped in without a layout pass, so its step is one frame."""
    from rich.markdown import Markdown
    from textual.widgets import Static

    app = make_app(name)
    layouts = []
    update = Static.update

    def recording(self, *args, layout=True, **kw):
        if self.id == "notes":
            layouts.append(layout)
        return update(self, *args, layout=layout, **kw)

    monkeypatch.setattr(Static, "update", recording)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for k in range(0, len(app.pipeline), max(1, len(app.pipeline) // 60)):
            app.go(k)
            await pilot.pause()
            notes, panel = app.query_one("#notes"), app.query_one("#narration")
            assert notes.size.height == app.notes_height(Markdown(app._note)) >= panel.content_size.height
    if len(layouts) > 1:  # notes changed after the first: some of them without a layout pass
        assert False in layouts[1:]
    if (name, size) == ("rnn_chinese.yaml", (80, 24)):  # a four-row panel: the layer's note is taller
        assert True in layouts


async def test_app_late_viewer_shows_the_presenters_tally(make_app):
    """A viewer who joins after many `r` and an `e` sees the same tally as the presenter: the samples
    since the last change of mode, each drawn again from its seed."""
    presenter = make_app("pipeline.yaml")
    states = []
    presenter.listeners.append(states.append)
    async with presenter.run_test(size=(80, 24)) as p:
        await p.press("tab", "tab", "r", "r", "r", "e", "r", "r")
        await p.pause()
        tally = presenter.tallies[2]
        assert presenter.lecture_state().endswith(" 2:5:eval:3") and tally.samples == 3
        presenter_screen = screen_text(presenter)
    for joined in (states[-1:], states):  # joining at the end, and following from the start
        viewer = make_app("pipeline.yaml", follow="unused")
        async with viewer.run_test(size=(80, 24)) as v:
            await v.pause()
            viewer.following = True
            for state in joined:
                viewer.presenter_at(state)
            await v.pause()
            mine = viewer.tallies[2]
            assert mine.samples == tally.samples
            assert (mine.kept == tally.kept).all() and np.allclose(mine.total, tally.total, rtol=0, atol=1e-12)
            assert screen_text(viewer).splitlines()[1:] == presenter_screen.splitlines()[1:]
