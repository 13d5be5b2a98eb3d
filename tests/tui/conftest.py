"""Helpers for driving the TUI headless: load a bundled scenario, read the screen as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from stepper.export import screen_text  # noqa: F401  (the tests read screens with it)
from stepper.scenario import load
from stepper.tui import create_app

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture
def make_app(tmp_path):
    def make(name: str, **kw):
        return create_app(load(str(SCENARIOS / name)), screenshot_dir=tmp_path, **kw)

    return make
