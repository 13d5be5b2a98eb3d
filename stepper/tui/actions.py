"""The keys that move through a scenario: steps, units, layers, playing, panning, go-to and help.

Mixed into StepperApp, whose ``go``, ``pipeline`` and ``refresh_screen`` they use; every move goes
through ``go``, so a viewer who steps on their own starts exploring.
"""

from __future__ import annotations

from stepper.tui.views import view_class

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # steps per second while playing


class StepActions:
    """Textual actions for the key bindings declared on StepperApp."""

    def action_next(self) -> None:
        if self.timer and self.position >= len(self.pipeline) - 1:
            self.action_play()
        self.go(self.position + 1)
        if self.timer and self.pauses_play():  # a breakpoint, or a question to answer
            self.action_play()

    def action_prev(self) -> None:
        self.go(self.position - 1)

    def action_first(self) -> None:
        self.go(0)

    def action_last(self) -> None:
        self.go(len(self.pipeline) - 1)

    def unit_jump(self, direction: int) -> None:
        pos = self.pipeline.locate(self.position)
        trace = self.pipeline.traces[pos.layer]
        unit = trace.unit_of(pos.local)
        start = self.pipeline.start(pos.layer)
        if direction > 0:
            nxt = unit + 1
            self.go(start + trace.unit_start(nxt) if nxt < trace.units else start + len(trace))
        else:
            here = trace.unit_start(unit)
            target = here if pos.local > here else (trace.unit_start(unit - 1) if unit > 0 else -1)
            self.go(start + target if target >= 0 else self.pipeline.start(max(pos.layer - 1, 0)))

    def action_next_unit(self) -> None:
        self.unit_jump(1)

    def action_prev_unit(self) -> None:
        self.unit_jump(-1)

    def action_next_layer(self) -> None:
        layer = self.pipeline.locate(self.position).layer
        if layer + 1 < len(self.pipeline.layers):
            self.go(self.pipeline.start(layer + 1))

    def action_prev_layer(self) -> None:
        pos = self.pipeline.locate(self.position)
        self.go(self.pipeline.start(pos.layer if pos.local else max(pos.layer - 1, 0)))

    def action_play(self) -> None:
        if self.timer:
            self.timer.stop()
            self.timer = None
        else:
            self.timer = self.set_interval(1 / SPEEDS[self.speed], self.action_next)
        self.refresh_screen()

    def change_speed(self, delta: int) -> None:
        self.speed = min(max(self.speed + delta, 0), len(SPEEDS) - 1)
        if self.timer:
            self.timer.stop()
            self.timer = self.set_interval(1 / SPEEDS[self.speed], self.action_next)
        self.notify(f"{SPEEDS[self.speed]:g} steps per second", timeout=1.5)

    def action_faster(self) -> None:
        self.change_speed(1)

    def action_slower(self) -> None:
        self.change_speed(-1)

    def action_pan(self, rows: int, cols: int) -> None:
        self.pan_rows += rows
        self.pan_cols += cols
        self.refresh_screen()

    def action_channel(self) -> None:
        layer = self.pipeline.locate(self.position).layer
        x = self.pipeline.traces[layer].input
        channels = x.shape[0] if x.ndim == 3 and view_class(self.pipeline.layers[layer]).input_channels else 1
        self.channel = (self.channel + 1) % channels
        self.refresh_screen()

    def action_goto(self) -> None:
        def done(value: int | None) -> None:
            if value is not None:
                self.go(value - 1)

        from stepper.tui.screens import GotoScreen

        self.push_screen(GotoScreen(len(self.pipeline)), done)

    def action_help(self) -> None:
        from stepper.tui.screens import HelpScreen

        self.push_screen(HelpScreen())
