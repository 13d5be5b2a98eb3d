"""The presenter's side: the TUI in the server's own terminal, its moves published to the viewers.

The presenter app runs on the main thread's event loop and the lecture server on its own (see
stepper.serve.lecture); they meet here. Every move of the presenter's app goes to
``Lecture.publish``; the viewer count comes back from the server's thread through
``loop.call_soon_threadsafe`` and lands in ``app.set_viewers``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from textual.widgets import Static

from stepper.serve.lecture import Lecture
from stepper.serve.poll import panel_text
from stepper.tui.app import StepperApp


class PresenterLink:
    """Joins a presenter app to a lecture, from the moment the app is ready until it has quit."""

    def __init__(self, app: StepperApp, lecture: Lecture, notices: tuple[tuple[str, str], ...] = ()) -> None:
        self.app = app
        self.lecture = lecture
        self.notices = notices  # (message, severity) shown on the presenter's screen at start
        self.loop: asyncio.AbstractEventLoop | None = None
        self.linked = False

    def ready(self) -> None:
        """The app is mounted (call on its loop): start publishing and counting."""
        self.loop = asyncio.get_running_loop()
        self.app.listeners.append(self.lecture.publish)
        self.lecture.publish(self.app.lecture_state())
        self.lecture.on_viewers = self.viewers_changed
        self.app.set_viewers(*self.lecture.inspect(self.lecture.counts))
        self.app.roster = self.lecture.roster
        self.app.poll = ClassPoll(self.app, self.lecture)
        self.app.listeners.append(self.app.poll.moved)
        self.linked = True
        for message, severity in self.notices:
            self.app.notify(message, severity=severity, timeout=12)  # type: ignore[arg-type]

    def viewers_changed(self, following: int, exploring: int) -> None:
        """On the server's thread: hand the counts to the app's loop."""
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the app's loop has closed
                self.loop.call_soon_threadsafe(self.show_viewers, following, exploring)

    def show_viewers(self, following: int, exploring: int) -> None:
        if self.linked:
            self.app.set_viewers(following, exploring)

    def close(self) -> None:
        self.linked = False
        self.lecture.on_viewers = None
        self.app.roster = None
        if self.app.poll is not None:
            self.app.poll.close()
            with contextlib.suppress(ValueError):
                self.app.listeners.remove(self.app.poll.moved)
        self.app.poll = None
        with contextlib.suppress(ValueError):
            self.app.listeners.remove(self.lecture.publish)


class ClassPoll:
    """The presenter's end of the class poll (stepper.serve.poll): `p` asks, `p` reveals, `p` closes.

    Asking hides the value of the current step on every screen, this one included (the projector
    shows it), and opens a panel over the narration with the count of answers and their histogram,
    read from the server twice a second. Stepping away from the step reveals too.
    """

    def __init__(self, app: StepperApp, lecture: Lecture) -> None:
        self.app = app
        self.lecture = lecture
        self.questions = 0
        self.panel: Static | None = None
        self.timer = None

    def toggle(self) -> None:
        if self.app.asking is not None:
            self.reveal()
        elif self.panel is not None and self.panel.display:
            self.hide_panel()
        else:
            self.ask()

    def ask(self) -> None:
        app = self.app
        k = app.position
        value = app.step_value(k)
        if value is None:
            app.notify("This step computes no single number to predict: press p at a step that does", timeout=4)
            return
        self.questions += 1
        where = app.pipeline.locate(k)
        what = f"step {k + 1}: layer {where.layer + 1} ({app.pipeline.layers[where.layer].type})"
        app.asking = (self.questions, k)
        app.hide_value(k)
        self.lecture.ask(self.questions, k, float(value), what)
        app.tell_listeners()
        self.show_panel()

    def reveal(self) -> None:
        app = self.app
        app.asking = None
        app.hide_value(None)
        self.lecture.reveal()
        app.tell_listeners()
        self.refresh()

    def moved(self, state: str) -> None:
        """A listener of the app: a step away from the asked one reveals; after a reveal, closes."""
        if self.app.asking is not None and self.app.position != self.app.asking[1]:
            self.reveal()
        elif self.app.asking is None and self.panel is not None and self.panel.display:
            question = self.lecture.question
            if question is not None and question.revealed and self.app.position != question.step:
                self.hide_panel()

    def show_panel(self) -> None:
        if self.panel is None:
            self.panel = Static(id="poll-panel")
            self.app.mount(self.panel)
        self.panel.display = True
        self.refresh()
        if self.timer is None:
            self.timer = self.app.set_interval(0.5, self.refresh)

    def hide_panel(self) -> None:
        if self.panel is not None:
            self.panel.display = False
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def refresh(self) -> None:
        if self.panel is None or not self.panel.display:
            return
        summary = self.lecture.poll_summary()
        if summary is not None:
            self.panel.update(panel_text(summary, self.app.size.width - 4))

    def close(self) -> None:
        self.hide_panel()


async def present(app: StepperApp, lecture: Lecture, *, notices: tuple[tuple[str, str], ...] = (),
                  run: Callable[[PresenterLink], Awaitable[object]] | None = None) -> None:
    """Run the presenter's app until it quits, then end the lecture for everyone.

    ``run`` replaces the real terminal (the tests drive the app with Textual's Pilot): it must
    call ``link.ready()`` once the app is mounted, and return when the app has quit.
    """
    link = PresenterLink(app, lecture, notices)

    async def ready(pilot) -> None:
        link.ready()

    try:
        if run is None:
            await app.run_async(auto_pilot=ready)
        else:
            await run(link)
    finally:
        link.close()
        await asyncio.get_running_loop().run_in_executor(None, lecture.stop)
