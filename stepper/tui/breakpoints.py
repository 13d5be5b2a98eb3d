"""Breakpoints in the TUI: `b` toggles one at the current step, `n` / `N` go to the next / previous
step where one fires, play stops at one, and the command palette lists and clears them.

Mixed into StepperApp. The file's breakpoints (numbers and `when:` conditions) and the ones set
with `b` are kept by a `stepper.breaks.Finder`, which evaluates a condition only at the steps a
search passes; a long search (a condition over a 130,000-step convolution) goes on in a thread
while the screen stays live.
"""

from __future__ import annotations

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.worker import get_current_worker

from stepper.breaks import NO_MARKS, Finder
from stepper.layers import kind_of

BUDGET = 2_000  # conditions evaluated before a search moves to a thread (a few tens of milliseconds)
SHOWN = 3  # breakpoints set with b that the header names


class BreakpointActions:
    """Textual actions for b, n and N, and what the header and the palette say about breakpoints."""

    _finder: Finder | None = None

    def finder(self) -> Finder:
        """The breakpoints of the pipeline on screen (a fresh dropout sample keeps the ones set with b)."""
        old = self._finder
        if old is None or old.pipeline is not self.pipeline:
            marks = [info.stops.breakpoints or NO_MARKS for info in self.scenario.info]
            kinds = [kind_of(layer) for layer in self.pipeline.layers]
            self._finder = Finder(self.pipeline, marks, kinds, *((old.added, old.silenced) if old else ()))
        return self._finder

    def has_breakpoints(self) -> bool:
        return self._finder is not None or any(info.stops.breakpoints for info in self.scenario.info)

    def breakpoints_state(self) -> str:
        """For the header: `● break` at a step where one fires, then the steps set with b."""
        if not self.has_breakpoints():
            return ""
        finder = self.finder()
        state = " · ● break" if finder.fires(self.position) else ""
        added = sorted(finder.added)
        if added:
            more = f" +{len(added) - SHOWN}" if len(added) > SHOWN else ""
            state += " · b " + " ".join(f"{k + 1:,}" for k in added[:SHOWN]) + more
        return state

    def action_toggle_breakpoint(self) -> None:
        here = self.finder().toggle(self.position)
        self.notify(f"breakpoint at step {self.position + 1:,}" if here else
                    f"no breakpoint at step {self.position + 1:,}", timeout=1.5)
        self.refresh_screen()

    def action_next_breakpoint(self) -> None:
        self.seek(1)

    def action_prev_breakpoint(self) -> None:
        self.seek(-1)

    def seek(self, direction: int, finder: Finder | None = None) -> None:
        """Go to the nearest step after (1) or before (-1) this one where a breakpoint fires."""
        finder = finder or self.finder()
        found = finder.search(self.position, direction, BUDGET)
        if found.done:
            self.arrive_at_breakpoint(found.hit, direction, self.position)
            return
        self.notify("searching the steps for a breakpoint...", timeout=2)
        start = self.position

        def search() -> None:
            worker = get_current_worker()
            rest = finder.search(found.resume, direction, len(self.pipeline), lambda: worker.is_cancelled)
            if rest.done:
                self.call_from_thread(self.arrive_at_breakpoint, rest.hit, direction, start)

        self.run_worker(search, thread=True, exclusive=True, group="breakpoints")

    def arrive_at_breakpoint(self, hit: int | None, direction: int, start: int) -> None:
        if self.position != start:  # moved on while a long search ran: the answer is stale
            return
        if hit is None:
            where = "after" if direction > 0 else "before"
            self.notify(f"no breakpoint {where} step {start + 1:,}", timeout=2)
            return
        self.go(hit)

    def pauses_play(self) -> bool:
        """Does play stop here: a breakpoint fires, or a question waits for an answer?"""
        if self.question is not None:
            return True
        if self.has_breakpoints() and self.finder().fires(self.position):
            self.notify(f"stopped at the breakpoint at step {self.position + 1:,}", timeout=2)
            return True
        return False

    # --- the command palette ---------------------------------------------------------------------

    def breakpoint_commands(self):
        if not self.has_breakpoints():
            yield SystemCommand("Breakpoints", "None yet: press b to set one at a step", self.action_breakpoints)
            return
        yield SystemCommand("Breakpoints", "List every breakpoint; choose one to go there", self.action_breakpoints)
        finder = self.finder()
        if finder.added or finder.silenced:
            yield SystemCommand("Clear breakpoints set with b", "The file's breakpoints stay",
                                self.action_clear_breakpoints)

    def action_clear_breakpoints(self) -> None:
        finder = self.finder()
        count = len(finder.added)
        finder.added.clear()
        finder.silenced.clear()
        self.notify(f"cleared {count} breakpoint{'s' if count != 1 else ''} set with b", timeout=2)
        self.refresh_screen()

    def action_breakpoints(self) -> None:
        listing = self.finder().listing() if self.has_breakpoints() else []

        def chosen(i: int | None) -> None:
            if i is None:
                return
            entry = listing[i]
            if entry.step is not None:
                self.go(entry.step)
            else:  # a condition: the next step where it holds
                self.seek(1, self.finder().alone(entry))

        self.push_screen(BreakpointsScreen([entry.text for entry in listing]), chosen)


class BreakpointsScreen(ModalScreen[int | None]):
    """Every breakpoint: the file's numbers and conditions, and the ones set with b; Enter goes there."""

    DEFAULT_CSS = """
    BreakpointsScreen { align: center middle; }
    BreakpointsScreen > Vertical { width: 90%; max-width: 100; height: auto; max-height: 80%;
                                   border: thick $primary; background: $surface; padding: 0 1; }
    BreakpointsScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close")]

    def __init__(self, entries: list[str]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical():
            if not self.entries:
                yield Static("No breakpoints. Press b at a step to set one; a scenario's layers can carry "
                             "`breakpoints:` (step numbers or `{when: EXPR}`). Escape closes this.")
            else:
                yield Static("Breakpoints: Enter goes there (a condition: its next step); Escape closes.")
                yield OptionList(*self.entries)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)
