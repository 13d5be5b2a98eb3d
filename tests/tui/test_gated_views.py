"""The LSTM and GRU views, driven with Textual's Pilot: what each phase shows, read off the screen.

Numbers on screen are compared with the engine's trace (the engine itself is checked against loop
references and PyTorch in tests/engine).
"""

from __future__ import annotations

import re

from stepper.tui.lstm_view import gate_cell, vector
from stepper.tui.render import Window, plain
from tests.tui.conftest import screen_text


def row(text: str, label: str) -> list[str]:
    """The cells of the view's row that starts with ``label`` (below the formula bar)."""
    lines = text.splitlines()
    view = lines[next(i for i, line in enumerate(lines) if line.startswith(" tokens")):]
    line = next(line for line in view if line.startswith(f" {label} "))
    return line[len(label) + 1:].split()


async def test_lstm_view_fills_gates_then_cell_as_the_phases_arrive(make_app):
    app = make_app("lstm_chinese.yaml")
    trace = app.pipeline.traces[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*["right"] * 9)  # t = 2, the forget gate
        await pilot.pause()
        text = screen_text(app)
        step = trace[9]
        assert step.phase == "forget gate" and "step 10/40 · forget gate" in text
        assert row(text, "f_t forget") == [f"{v:.3f}" for v in step.values["f_t"][:9]]  # fractions, no sign
        assert row(text, "g_t cand.") == ["·"] * 9  # not computed yet at this step
        assert row(text, "c_{t-1}")[0] == f"{trace.c[0][0]:+.3f}"
        assert f"f_t[0] = σ(" in text and f"= {step.values['f_t'][0]:.4g}: keeps " in text
        assert "unrolled: c_1 .. c_1" in text and "c_1 你" in text
        await pilot.press("right", "right", "right", "right", "right")  # the cell: c_2 = kept + written
        await pilot.pause()
        text = screen_text(app)
        c2 = trace.c[1]
        assert row(text, "= c_t") == [f"{v:+.3f}" for v in c2[:9]]
        assert row(text, "c_2 个") == row(text, "= c_t")  # c_2 joins the strip as soon as it is computed
        kept, written = trace[14].values["kept"][0], trace[14].values["written"][0]
        assert f"c_t[0] = {kept:.4g} + {written:.4g} = {c2[0]:.4g}".replace("+ -", "- ") in text
        await pilot.press("right_square_bracket")  # the next page of units
        assert "units 9-17/128" in screen_text(app)
        assert row(screen_text(app), "= c_t")[0] == f"{c2[9]:+.3f}"


async def test_lstm_view_shows_the_last_states_and_parameters(make_app):
    app = make_app("lstm_chinese.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")
        await pilot.pause()
        text = screen_text(app)
        assert "total 197,120 params" in text and "U 4x256x128 = 131,072" in text
        assert all(f"c_{t} {ch}" in text for t, ch in zip(range(1, 6), "你个扑该!"))
        h5 = app.pipeline.traces[0].output[4]
        assert row(text, "h_t")[:15] == [f"{v:+.3f}" for v in h5[:15]]


async def test_gru_view_blends_the_candidate_with_the_old_state(make_app):
    app = make_app("gru_chinese.yaml")
    trace = app.pipeline.traces[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("shift+right", *["right"] * 4)  # t = 2, the blend
        await pilot.pause()
        text = screen_text(app)
        step = trace[9]
        assert step.phase == "blend"
        z, n, h_prev = step.values["z_t"][0], step.values["n_t"][0], step.values["h_prev"][0]
        assert f"h_t[0] = (1 - {z:.4g}) * {n:.4g} + {z:.4g} * {h_prev:.4g} = {trace.output[1][0]:.4g}" in text
        assert row(text, "z_t update") == [f"{v:.3f}" for v in step.values["z_t"][:9]]
        assert row(text, "h_2 个") == [f"{v:+.3f}" for v in trace.output[1][:9]]
        assert "total 147,840 params" in text


def test_gate_cells_are_unsigned_fractions_and_other_cells_signed():
    values = [0.25, 0.9999, -0.5]
    assert gate_cell(values, 0, 1.0, True)[0] == " 0.250"
    assert gate_cell(values, 2, 1.0, False)[0] == "-0.500"
    assert gate_cell(None, 0, 1.0, True)[0].strip() == "·"
    rows = vector("f_t forget", [0.1, 0.2, 0.3], Window(0, 3, 3), 2, 1.0, True, True)
    assert [re.sub(r"\s+", " ", plain(r)).strip() for r in rows] == ["f_t forget 0.100 0.200", "0.300"]
