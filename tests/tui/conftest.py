"""Helpers for driving the TUI headless: load a bundled scenario, read the screen as plain text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from stepper.scenario import load
from stepper.tui import create_app

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def screen_text(app) -> str:
    """What a person would read on the app's screen right now, without colour."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), color_system=None, record=True,
                      legacy_windows=False, force_terminal=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


@pytest.fixture
def make_app(tmp_path):
    def make(name: str, **kw):
        return create_app(load(str(SCENARIOS / name)), screenshot_dir=tmp_path, **kw)

    return make
