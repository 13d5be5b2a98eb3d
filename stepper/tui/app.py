"""The step-through app: one position in the scenario's trace, drawn by the current layer's view.

The position is a single global step number; every screen is a pure function of it and of the
user's panning and choices, so Right then Left (or End then Home) restores exactly what was there.
"""

from __future__ import annotations

import gc
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from stepper.engine import Pipeline
from stepper.scenario import Scenario
from stepper.tui import panels, render
from stepper.tui.actions import StepActions
from stepper.tui.breakpoints import BreakpointActions
from stepper.tui.base import Context, FamilyView, Tally
from stepper.tui.lecture_state import LectureState
from stepper.tui.quiz import QuizMixin
from stepper.tui.views import CompareView, view_class, view_for

MIN_WIDTH, MIN_HEIGHT = 60, 18
CATCH_UP = 10_000  # at most this many earlier dropout samples are redrawn for a viewer's tally
FOLLOWER_KEYS = Text.assemble((" f ", "bold"), "explore on your own  ", (" q ", "bold"), "leave the lecture")
VIEWER_SCREENSHOT = ("Screenshots are saved where stepper runs, the lecturer's machine, out of your reach: "
                     "use your terminal's own, or `stepper export` on a copy of the scenario.")


class MainArea(VerticalScroll):
    """Where the family view lives; views are laid out for its size, so a resize redraws them."""

    def on_resize(self) -> None:
        self.app.refresh_screen()


class StepperApp(StepActions, BreakpointActions, QuizMixin, LectureState, App):
    """Walk a scenario's layers step by step, forwards and backwards."""

    CSS_PATH = "app.tcss"
    TITLE = "stepper"
    ENABLE_COMMAND_PALETTE = True
    # Textual sets these classes on the screen as its size changes (app.tcss shows the too-small note)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (MIN_WIDTH, "-wide-enough")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (MIN_HEIGHT, "-high-enough"), (32, "-tall")]

    BINDINGS = [
        Binding("right,l", "next", "Next", key_display="→"),
        Binding("left,h", "prev", "Back", key_display="←"),
        Binding("shift+right", "next_unit", "Unit", key_display="⇧→", show=False),
        Binding("shift+left", "prev_unit", "Unit back", key_display="⇧←", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("tab", "next_layer", "Layer", priority=True),
        Binding("shift+tab", "prev_layer", "Layer back", priority=True, show=False),
        Binding("space", "play", "Play"),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("g", "goto", "Go to"),
        Binding("r", "resample", "Resample", show=False),
        Binding("e", "toggle_mode", "Train/eval", show=False),
        Binding("left_square_bracket", "pan(0, -1)", "Page left", show=False),
        Binding("right_square_bracket", "pan(0, 1)", "Page right", show=False),
        Binding("left_curly_bracket", "pan(-1, 0)", "Page up", show=False),
        Binding("right_curly_bracket", "pan(1, 0)", "Page down", show=False),
        Binding("c", "channel", "Channel", show=False),
        Binding("b", "toggle_breakpoint", "Breakpoint", show=False),
        Binding("n", "next_breakpoint", "Next break", show=False),
        Binding("N,shift+n", "prev_breakpoint", "Previous break", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("s", "screenshot", "SVG", show=False),
        Binding("f", "toggle_follow", "Follow", show=False),
        Binding("p", "poll", "Poll", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, scenario: Scenario, *, theme: str | None = None, follow=None,
                 screenshot_dir: str | Path = ".", role: str | None = None, quiz: bool = False) -> None:
        super().__init__()
        self.scenario = scenario
        self.pipeline: Pipeline = scenario.pipeline
        self.position = 0
        self.pan_rows = self.pan_cols = self.channel = 0
        self.speed = 2
        self.timer = None
        self.tallies: dict[int, Tally] = {}
        self.samples: dict[int, int] = {}  # each dropout layer's sample number (0: the file's coins)
        self.tally_from: dict[int, int] = {}  # the sample its tally starts at (its last change of mode)
        self.follow = follow  # where a viewer hears the presenter's position (see stepper.tui.follow)
        # A process of `stepper serve`: "shared" draws the screen many followers share, "explorer" is
        # one student's own copy (f goes back to the shared screen), "viewer" a student's copy when
        # there is no presenter. None: stepper run.
        self.role = role
        self.following = follow is not None and role != "explorer"
        self.presenter_position: int | None = None  # None until the presenter is first heard
        self.viewers: tuple[int, int] | None = None  # following, exploring: the presenter's header
        self.roster = None  # while presenting a lecture: returns who is watching (see RosterScreen)
        self.asking: tuple[int, int] | None = None  # the class poll's open question: its number, its step
        self.poll = None  # while presenting a lecture: p opens and closes a class poll (stepper.serve.poll)
        self.listeners: list = []  # called with lecture_state() after every change (the presenter's feed)
        self.ready = self.notes_ready = False
        self.screenshot_dir = Path(screenshot_dir)
        self.view_key: tuple | None = None
        self.view: FamilyView | CompareView | None = None
        self.requested_theme = theme
        self.init_quiz(quiz)
        for i, layer in enumerate(self.pipeline.layers):
            if layer.type == "dropout":
                self.tallies[i] = Tally()
                self.tallies[i].add(self.pipeline.traces[i].keep, self.pipeline.traces[i].output)

    def get_driver_class(self):
        """Textual's driver for this terminal; on Linux and macOS, one that takes any input bytes."""
        driver_class = super().get_driver_class()
        if driver_class.__module__ == "textual.drivers.linux_driver":  # not Windows, nor $TEXTUAL_DRIVER
            from stepper.tui.driver import StepperDriver

            driver_class = StepperDriver
        return driver_class

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="formula")
        with MainArea(id="main"):  # the first view is there from the start: the first frame shows it
            yield self.view_of(self.pipeline.locate(self.position).layer)
        with Horizontal(id="bottom"):
            with VerticalScroll(id="narration"):
                yield Static(id="notes")
            yield Static(id="shapes")
        yield Static(
            "The terminal is too small for stepper.\n\n"
            f"Enlarge it to at least {MIN_WIDTH}x{MIN_HEIGHT} (a smaller font helps), or press q to quit.",
            id="too-small")
        if self.role == "shared":  # watched by followers, whose keys are only these
            yield Static(FOLLOWER_KEYS, id="follower-keys")
        else:
            yield Footer()

    def watch_theme(self, theme: str) -> None:
        self.view_key = None  # every cell's colour depends on the theme's palette
        self.refresh_screen()

    def on_mount(self) -> None:
        if self.follow:
            from stepper.tui.follow import start_following

            start_following(self, self.follow)
        self.ready = True
        if self.requested_theme:
            self.theme = self.requested_theme
        self.title = self.scenario.title
        self.query_one("#shapes", Static).update(panels.shapes(self.scenario))
        self.arrive()
        self.refresh_screen()

    # --- drawing -----------------------------------------------------------------------------

    def refresh_screen(self) -> None:
        if not self.ready:
            return
        render.PALETTE["ansi"] = self.theme.startswith("ansi")  # this app's palette, whatever ran before
        pipeline = self.shown()  # the pipeline, or with the number a question hides
        pos, step = pipeline.step(self.position)
        if self.view_key != self.key_of(pos.layer):
            main = self.query_one("#main", MainArea)
            main.remove_children()
            main.mount(self.view_of(pos.layer))
        ctx = self.context(pos.layer, step, pipeline)
        assert self.view is not None
        if isinstance(self.view, CompareView):
            self.view.show(ctx, pipeline)
        else:
            self.view.show(ctx)
        self.query_one("#header", Static).update(self.header(pos.layer, step), layout=False)
        live, context = view_class(self.pipeline.layers[pos.layer]).formula(ctx)
        lines = ((step.formula, "bold"), (live, "bold"), (context, "dim"))
        formula = Text("\n").join(Text(line, style=style) for line, style in lines)
        self.query_one("#formula", Static).update(formula, layout=False)  # app.tcss cuts each line to fit
        self.drawn()
        if self.notes_ready:
            self.show_notes(step.note)
        else:  # the narration follows the first frame: the numbers are on screen sooner
            self.notes_ready = True
            self.call_after_refresh(self.after_first_frame)

    def key_of(self, layer: int) -> tuple:
        """What decides which view draws ``layer``: its compare group, and which pipeline it is."""
        return tuple(self.pipeline.members(layer)), id(self.pipeline)

    def view_of(self, layer: int) -> FamilyView | CompareView:
        """A new view for ``layer`` (its compare group side by side), kept as the one on screen."""
        members = self.pipeline.members(layer)
        layers = [self.pipeline.layers[i] for i in members]
        self.view_key = self.key_of(layer)
        self.view = CompareView(members, layers) if len(members) > 1 else view_for(layers[0])
        return self.view

    def context(self, layer: int, step, pipeline=None) -> Context:
        main = self.query_one("#main", MainArea)
        width, height = main.size
        if not width:  # before the first layout: the size app.tcss will give it, so the first frame is right
            width = self.size.width - 2
            height = self.size.height - 5 - (9 if self.size.height >= 32 else 5)  # header+formula+footer, bottom
        return Context(pipeline or self.pipeline, layer, step, True, self.pan_rows, self.pan_cols, self.channel,
                       self.tallies.get(layer), max(width - 1, 20), max(height, 4), self.pipeline.labels[layer])

    def header(self, layer: int, step) -> Text:
        kind = self.pipeline.layers[layer].type
        extra = f" {self.pipeline.layers[layer].mode}" if kind == "dropout" else ""
        state = " ▶" if self.timer else ""
        if self.role == "shared":
            state += " · following (f: explore)"
        elif self.role == "explorer":
            state += " · exploring (f: back to the lecture)"
        elif self.follow:
            state += " · following" if self.following else " · exploring (f to follow)"
        if self.viewers is not None:
            following, exploring = self.viewers
            state += f" · {following} following" + (f" · {exploring} exploring" if exploring else "")
        state += self.breakpoints_state() + self.quiz_state()
        where = panels.position(layer, len(self.pipeline.layers), kind + extra, self.position,
                                len(self.pipeline), step.phase, state)
        return panels.header(self.scenario.title, where, self.size.width)

    def after_first_frame(self) -> None:
        self.show_notes()
        if not gc.isenabled():  # `stepper run` paused the collector for start-up: resume it
            # What start-up built lives as long as the app: frozen, no later collection rescans it.
            # Its few thousand garbage objects (a few hundred kB) are frozen with it: collecting
            # them first would cost 25-30 ms, right when the first keys may come.
            gc.freeze()
            gc.enable()

    def show_notes(self, note: str | None = None) -> None:
        """The narration for the current step: its note, else its layer's, else the description."""
        if note is None:  # called after the first frame: read the step that is current by then
            note = self.pipeline.step(self.position)[1].note
        text = self.narrate(note or self.scenario.description or "_No notes for this layer._")
        if getattr(self, "_note", None) != text:
            self._note = text
            from rich.markdown import Markdown  # Rich's renderable: light, CJK-safe; imported when first needed

            notes, markdown = self.query_one("#notes", Static), Markdown(text)
            notes.update(markdown, layout=self.notes_height(markdown) != notes.size.height)

    def notes_height(self, markdown) -> int | None:
        """The narration's height once it shows ``markdown``: its lines, but at least the panel's
        height (app.tcss). When that is the height it has, the note changes without a layout pass,
        so a step that brings a new note is one frame, not two."""
        notes, panel = self.query_one("#notes", Static), self.query_one("#narration")
        width = notes.content_size.width
        if not width:
            return None
        options = self.console.options.update(width=width, height=None)
        return max(len(self.console.render_lines(markdown, options, pad=False)), panel.content_size.height)

    # --- moving ------------------------------------------------------------------------------

    def go(self, k: int, by_user: bool = True) -> None:
        if by_user and self.following:  # a viewer who steps on their own is exploring
            self.following = False
        k = min(max(int(k), 0), len(self.pipeline) - 1)
        if k != self.position:
            self.position = k
            self.arrive()
            self.tell_listeners()  # first: followers' screens start drawing while this one does
            self.refresh_screen()

    # --- dropout -----------------------------------------------------------------------------

    def dropout_layer(self) -> int | None:
        layer = self.pipeline.locate(self.position).layer
        if self.pipeline.layers[layer].type == "dropout":
            return layer
        self.notify("r and e act on a dropout layer: Tab to one first", timeout=2)
        return None

    def dropout_sample(self, i: int, sample: int, mode: str):
        """Dropout layer ``i`` as sample number ``sample`` (0: the file's own coins or mask) in ``mode``."""
        layer = self.scenario.layers[i]
        if sample:
            layer = layer.resampled((self.scenario.seed, 1 + i, sample))
        return layer.toggled() if mode != layer.mode else layer

    def draw_dropout(self, i: int, sample: int, mode: str, first: int | None = None) -> None:
        """Show dropout layer ``i`` as sample ``sample`` in ``mode``, its tally over the samples
        ``first`` to ``sample``. Without ``first`` the tally goes on, or starts afresh when the
        mode changes (a viewer joining late passes the presenter's ``first`` and catches up)."""
        before = (self.tally_from.get(i, 0), self.samples.get(i, 0), self.pipeline.layers[i].mode)
        if first is None:
            first = sample if mode != before[2] else before[0]
        first = min(max(first, sample - CATCH_UP), sample)
        self.samples[i], self.tally_from[i] = sample, first
        self.pipeline = self.pipeline.with_layer(i, self.dropout_sample(i, sample, mode))
        trace = self.pipeline.traces[i]
        if (first, sample - 1, mode) == before:  # r: one sample more
            self.tallies[i].add(trace.keep, trace.output)
        else:  # e, or a viewer catching up: the samples first..sample, each drawn again from its seed
            self.tallies[i] = Tally()
            for k in range(first, sample + 1):
                drawn = trace if k == sample else self.dropout_sample(i, k, mode).trace(trace.input)
                self.tallies[i].add(drawn.keep, drawn.output)
        self.view_key = None
        self.refresh_screen()

    def action_resample(self) -> None:
        i = self.dropout_layer()
        if i is not None:
            self.draw_dropout(i, self.samples.get(i, 0) + 1, self.pipeline.layers[i].mode)
            self.tell_listeners()

    def action_toggle_mode(self) -> None:
        i = self.dropout_layer()
        if i is not None:
            mode = "eval" if self.pipeline.layers[i].mode == "train" else "train"
            self.draw_dropout(i, self.samples.get(i, 0), mode)
            self.tell_listeners()

    # --- screenshots and the command palette ---------------------------------------------------

    def action_screenshot(self) -> None:
        if self.follow or self.role:  # a viewer of `stepper serve`: the file would land on the lecturer's machine
            self.notify(VIEWER_SCREENSHOT, timeout=6)
            return
        pos = self.pipeline.locate(self.position)
        name = f"{Path(self.scenario.path).stem}-layer{pos.layer + 1}-step{self.position + 1:06d}.svg"
        path = self.save_screenshot(name, str(self.screenshot_dir))
        self.notify(f"saved {path}", timeout=3)

    def get_system_commands(self, screen):
        for command in super().get_system_commands(screen):
            if not ((self.follow or self.role) and command.title == "Screenshot"):  # see action_screenshot
                yield command
        yield SystemCommand("Go to step", "Jump to a step number", self.action_goto)
        yield from self.breakpoint_commands()
        for i, layer in enumerate(self.pipeline.layers):
            yield SystemCommand(f"Layer {i + 1}: {layer.type}", "Jump to this layer's first step",
                                lambda i=i: self.go(self.pipeline.start(i)))
        if self.roster is not None:
            yield SystemCommand("Who is watching", "The lecture's followers and explorers", self.action_roster)
        yield SystemCommand("Help", "Show the keys", self.action_help)

    def action_roster(self) -> None:
        if self.roster is not None:
            from stepper.tui.screens import RosterScreen

            self.push_screen(RosterScreen(self.roster))


def create_app(scenario: Scenario, *, theme: str | None = None, follow=None, screenshot_dir: str | Path = ".",
               role: str | None = None, quiz: bool = False) -> StepperApp:
    """The one app factory: the CLI, export, the SSH viewers and the tests all build the TUI here.
    ``quiz``: predict, then reveal (`stepper run --quiz`)."""
    return StepperApp(scenario, theme=theme, follow=follow, screenshot_dir=screenshot_dir, role=role, quiz=quiz)
