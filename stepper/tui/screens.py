"""Modal screens: the key help, the go-to-step prompt, and who is watching a lecture."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Markdown, Static

KEYS = """\
| key | does |
| --- | --- |
| Right / l | next step |
| Left / h | previous step |
| Shift+Right / Shift+Left | next / previous coarse unit (time step, output row, statistic, row of elements) |
| Home / End | first / last step of the scenario |
| Tab / Shift+Tab | next / previous layer |
| space | play or pause; + / - play faster or slower |
| g | go to step number N |
| [ / ] | page a long vector or a wide grid left / right |
| { / } | page a tall grid up / down |
| c | next input channel (convolution and pooling with several channels) |
| r | new dropout sample (fresh coins; the tally counts samples) |
| e | dropout: switch train / eval mode |
| f | follow the presenter or explore (SSH viewers) |
| b | set or clear a breakpoint at this step |
| n / N | next / previous step where a breakpoint fires (play stops at one too) |
| Enter / Esc | quiz (`--quiz`): reveal your prediction / skip the question |
| s | save an SVG screenshot of this screen |
| Ctrl+P | command palette: go to step, jump to a layer, list or clear breakpoints, theme |
| ? | this help; Escape closes it |
| q | quit |
"""


class HelpScreen(ModalScreen[None]):
    """The keys, as the README lists them."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown("## stepper keys\n\n" + KEYS)

    def action_dismiss(self, result=None) -> None:  # type: ignore[override]
        self.dismiss(None)


class GotoScreen(ModalScreen[int | None]):
    """Ask for a step number (1 to N) and hand it back; Escape cancels."""

    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical { width: 44; height: auto; border: thick $primary; background: $surface;
                            padding: 0 1; }
    GotoScreen #goto-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Go to step (1 to {self.total:,}):")
            yield Input(placeholder=f"1-{self.total}", id="goto-input", restrict=r"[0-9]*", max_length=12)
            yield Static("", id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text.isdigit() and 1 <= int(text) <= self.total:
            self.dismiss(int(text))
        else:
            self.query_one("#goto-error", Static).update(f"Type a whole number from 1 to {self.total:,}.")

    def action_cancel(self) -> None:
        self.dismiss(None)


class RosterScreen(ModalScreen[None]):
    """Who is watching the lecture: name, view class, following or exploring, connected since.

    ``look`` returns the rows (stepper.serve.lecture.Lecture.roster), asked again every two
    seconds and on `r`.
    """

    DEFAULT_CSS = """
    RosterScreen { align: center middle; }
    RosterScreen > Vertical { width: 90%; max-width: 100; height: 90%; border: thick $primary;
                              background: $surface; padding: 0 1; }
    RosterScreen DataTable { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("r", "refresh_roster", "Refresh")]

    def __init__(self, look) -> None:
        super().__init__()
        self.look = look

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="roster-summary")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Static("updated every 2 s; r now, Escape closes")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("who", "view", "", "since")
        self.action_refresh_roster()
        self.set_interval(2.0, self.action_refresh_roster)  # students come and go while it is open

    def action_refresh_roster(self) -> None:
        import time

        rows = self.look()
        table = self.query_one(DataTable)
        table.clear()
        for name, view, mode, since in rows:
            table.add_row(name, view, mode, time.strftime("%H:%M:%S", time.localtime(since)))
        exploring = sum(1 for row in rows if row[2] == "exploring")
        self.query_one("#roster-summary", Static).update(
            f"{len(rows) - exploring} following, {exploring} exploring")

    def action_dismiss(self, result=None) -> None:  # type: ignore[override]
        self.dismiss(None)
