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

from stepper.serve.lecture import Lecture
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
        with contextlib.suppress(ValueError):
            self.app.listeners.remove(self.lecture.publish)


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
