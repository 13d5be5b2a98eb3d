"""The app's side of a lecture over SSH: the state a presenter publishes, and a viewer applying it.

A presenter's app calls its ``listeners`` with ``lecture_state()`` after every change (the feed of
`stepper serve`); a viewer's app, started with ``follow``, hears it through stepper.tui.follow and
calls ``presenter_at``. Mixed into StepperApp, whose attributes it uses.
"""

from __future__ import annotations

from stepper.serve.feed import BACK_TO_FOLLOWING


class LectureState:
    """Publishing and following a presenter's position, dropout samples and modes."""

    def tell_listeners(self) -> None:
        state = self.lecture_state()
        for listener in self.listeners:
            listener(state)

    def lecture_state(self) -> str:
        """The position, and each dropout layer's sample number, mode and first sample of its tally
        where they differ from the file: `17`, `17 2:3:eval` or `17 2:5:eval:3`; then the class poll's
        open question, if any: `17 ?4:17` (question 4, the value of step 17 hidden). A viewer that
        applies it shows what the presenter shows, tally included."""
        changed = []
        for i in self.tallies:
            n, mode, first = self.samples.get(i, 0), self.pipeline.layers[i].mode, self.tally_from.get(i, 0)
            if n or first or mode != self.scenario.layers[i].mode:
                changed.append(f"{i}:{n}:{mode}" + (f":{first}" if first else ""))
        question = f" ?{self.asking[0]}:{self.asking[1]}" if self.asking else ""
        return f"{self.position}" + (" " + ",".join(changed) if changed else "") + question

    def presenter_at(self, state: str) -> None:
        """Apply a presenter's lecture_state(): their dropout samples, modes and tallies, the poll's
        hidden value, then their step."""
        k, *fields = state.split(" ")
        rest = next((f for f in fields if not f.startswith("?")), "")
        question = next((f[1:] for f in fields if f.startswith("?")), None)
        asking = tuple(int(n) for n in question.split(":")) if question else None
        if asking != self.asking:
            self.asking = asking
            self.hide_value(asking[1] if asking else None)
        wanted = {}
        for entry in filter(None, rest.split(",")):
            i, n, mode, *first = entry.split(":")
            wanted[int(i)] = (int(n), mode, int(first[0]) if first else 0)
        for i in self.tallies:
            n, mode, first = wanted.get(i, (0, self.scenario.layers[i].mode, 0))
            if (n, mode, first) != (self.samples.get(i, 0), self.pipeline.layers[i].mode, self.tally_from.get(i, 0)):
                self.draw_dropout(i, n, mode, first)
        self.presenter_moved(int(k))

    def presenter_moved(self, k: int) -> None:
        """The presenter is now at step ``k``: go there too unless exploring."""
        first = self.presenter_position is None
        self.presenter_position = k
        if self.following or (first and self.role == "explorer"):  # an explorer starts where the presenter is
            self.go(k, by_user=False)

    def action_toggle_follow(self) -> None:
        if self.role == "explorer":  # back to the shared screen: the server takes it from here
            self.exit(return_code=BACK_TO_FOLLOWING)
            return
        if self.role == "shared":
            return
        if not self.follow:
            self.notify("f follows a presenter: only for viewers of `stepper serve`", timeout=2)
            return
        self.following = not self.following
        if self.following and self.presenter_position is not None:
            self.go(self.presenter_position, by_user=False)
        self.refresh_screen()

    def action_poll(self) -> None:
        if self.poll is None:
            self.notify("p asks the class a question: only while presenting with `stepper serve`", timeout=3)
            return
        self.poll.toggle()

    def set_viewers(self, following: int, exploring: int = 0) -> None:
        self.viewers = (following, exploring)
        self.refresh_screen()
