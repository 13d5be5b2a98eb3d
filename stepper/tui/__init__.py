"""The Textual TUI: the app factory, one view per engine family, shared widgets."""

from stepper.tui.app import StepperApp, create_app

__all__ = ["StepperApp", "create_app"]
