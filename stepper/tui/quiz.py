"""Predict, then reveal (`stepper run --quiz`): a step's number is hidden until the user predicts it.

Mixed into StepperApp. At a step that asks (stepper.quiz), the number the step computes shows as
`?` in its cell and in the formula, a one-line input sits on that cell, and the narration asks for
a prediction. Enter reveals the number, says right or wrong and by how much, and explains it with
the step's formula; Esc skips the question. The header keeps the score: `score R/A`, right answers
out of questions answered.

The hiding is also what a class poll over `stepper serve` uses: `step_value(k)` is the number a
step computes, and `hide_value(k)` hides it on a screen that otherwise behaves as always.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.widgets import Input

from stepper.engine import Pipeline
from stepper.layers import kind_of
from stepper.quiz import MAX_GUESS, Verdict, asks, computed, grade, guess_of, label, score
from stepper.tui.base import FamilyView
from stepper.tui.hiding import Hidden, MaskedPipeline
from stepper.tui.render import HIDDEN, val
from stepper.tui.views import CompareView, view_class

WIDTH = 10  # cells of the input: the hidden cell and a little more
NUMBER_CHARACTERS = "0123456789.eE+-"  # what a prediction is typed with


class Prediction(Input):
    """The one-line input on the hidden cell: Enter answers, Esc skips."""

    DEFAULT_CSS = """
    Prediction {
        overlay: screen; position: absolute; width: 10; height: 1; border: none; padding: 0;
        background: $warning; color: $text; text-style: bold;
    }
    Prediction:focus { border: none; }
    """
    BINDINGS = [Binding("escape", "skip", "Skip the question")]

    def __init__(self) -> None:
        super().__init__(placeholder=HIDDEN, restrict=f"[{re.escape(NUMBER_CHARACTERS)}]*", max_length=MAX_GUESS,
                         id="prediction", compact=True)

    def on_mount(self) -> None:
        if self.app.animation_level == "none":  # export and snapshots: a steady cursor, the same bytes each time
            self.cursor_blink = False

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Only the characters of a number: every other key does what it always does ([ and ] page)."""
        return character is not None and character in NUMBER_CHARACTERS

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and not self.check_consume_key(event.key, event.character):
            event.prevent_default()  # not typed here: the app's keys have it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.app.answer(event.value)

    def action_skip(self) -> None:
        self.app.skip_question()


class QuizMixin:
    """The quiz's state on the app, and the hiding that the quiz and a class poll share."""

    def init_quiz(self, quiz: bool) -> None:
        self.quiz = quiz
        self.hidden_step: int | None = None  # the global step whose number is hidden
        self._masked: tuple[Pipeline, int, MaskedPipeline | Pipeline] | None = None
        self.question: int | None = None  # the global step that asks now
        self.focus_before = None  # what had the focus before the question's input took it
        self.verdicts: dict[int, Verdict] = {}
        self.skipped: set[int] = set()
        self.ask_listed = any(info.stops.ask is not None for info in self.scenario.info)

    # --- what a class poll uses -----------------------------------------------------------------

    def step_value(self, k: int) -> float | None:
        """The number global step ``k`` (from 0) computes, as its layer type declares it (an output
        cell; a state's first entry, h_t[0]; a mean), or None when the step computes none. It is the
        number `hide_value` hides and the quiz asks for."""
        pos, step = self.pipeline.step(k)
        found = computed(kind_of(self.pipeline.layers[pos.layer]), step)
        return None if found is None else found[2]

    def hide_value(self, k: int | None) -> None:
        """Hide the number global step ``k`` computes, as the quiz does: `?` in its cell and in the
        formula, the screen otherwise as always (every key works, other numbers show). None shows it
        again. Hiding a step that computes no number changes nothing."""
        if k != self.hidden_step:
            self.hidden_step = k
            self.refresh_screen()

    def shown(self) -> Pipeline | MaskedPipeline:
        """The pipeline the views draw: with the hidden number, if any, as not-a-number."""
        k = self.hidden_step
        if k is None or not 0 <= k < len(self.pipeline):
            return self.pipeline
        if self._masked is None or self._masked[0] is not self.pipeline or self._masked[1] != k:
            pos, step = self.pipeline.step(k)
            kind = kind_of(self.pipeline.layers[pos.layer])
            found = computed(kind, step)
            hidden = None if found is None else Hidden(pos.layer, pos.local, *found, kind.reveals(step))
            shown = self.pipeline if hidden is None else MaskedPipeline(self.pipeline, hidden)
            self._masked = (self.pipeline, k, shown)
        return self._masked[2]

    # --- the questions --------------------------------------------------------------------------

    def asks(self, k: int) -> bool:
        pos, step = self.pipeline.step(k)
        return asks(kind_of(self.pipeline.layers[pos.layer]), step, self.scenario.info[pos.layer].stops.ask,
                    self.ask_listed)

    def arrive(self) -> None:
        """At a new position: a question left unanswered goes away; this step may ask one."""
        if not self.quiz:
            return
        if self.question is not None and self.question != self.position:
            self.close_question()
        k = self.position
        if self.question is None and k not in self.verdicts and k not in self.skipped and self.asks(k):
            self.question = self.hidden_step = k
            self.focus_before = self.screen_stack[0].focused
            if self.timer:  # play waits for the answer
                self.action_play()

    def close_question(self) -> None:
        self.question = None
        self.hidden_step = None
        screen = self.screen_stack[0]
        for widget in screen.query(Prediction):
            widget.remove()
        before = self.focus_before
        screen.set_focus(before if before is not None and before.is_attached else None)

    def drawn(self) -> None:
        """After a redraw: the input goes onto the hidden cell at once, so that the keys typed next
        reach it, and again once the screen is laid out (a new layer's view has no place before)."""
        if self.question is not None:
            self.place_input()
            self.call_after_refresh(self.place_input)

    def place_input(self) -> None:
        if self.question is None:
            return
        screen = self.screen_stack[0]
        found = screen.query(Prediction)
        prediction = found.first() if found else Prediction()
        if not found:
            screen.mount(prediction)
        x, y = self.hidden_cell()
        prediction.styles.offset = (max(min(x, self.size.width - WIDTH), 0), y)
        if self.screen is screen:
            prediction.focus()

    def hidden_cell(self) -> tuple[int, int]:
        """Where the `?` is on screen: in the view, else in the formula bar (else beside it: paged out)."""
        view = self.stepped_view()
        if view is not None:
            for y, strip in enumerate(view.strips):
                x = question_mark(list(strip))
                region = view.content_region
                if x is not None and y < region.height:
                    return region.x + x, region.y + y
        formula = self.screen_stack[0].query_one("#formula")
        region, lines = formula.content_region, str(formula.render()).splitlines()
        for y, line in enumerate(lines):
            if f"= {HIDDEN}" in line:
                return region.x + line.index(f"= {HIDDEN}") + 2, region.y + y
        return region.x + (len(lines[0]) + 3 if lines else 0), region.y  # beside the formula's name

    def stepped_view(self) -> FamilyView | None:
        """The family view of the layer being stepped (one member of a compare group)."""
        if isinstance(self.view, CompareView):
            layer = self.pipeline.locate(self.position).layer
            views = list(self.view.query(FamilyView))
            i = self.view.members.index(layer)
            return views[i] if i < len(views) else None
        return self.view

    def answer(self, text: str) -> None:
        k = self.question
        guess = guess_of(text)
        if k is None:
            return
        if guess is None:
            self.notify("type a number, such as 0.5, -3 or 1.2e-3; Esc skips the question", timeout=3)
            return
        layer = self.pipeline.locate(k).layer
        tolerance = self.scenario.info[layer].stops.tolerance or self.scenario.tolerance
        self.verdicts[k] = grade(guess, self.step_value(k), tolerance)
        self.close_question()
        self.refresh_screen()

    def skip_question(self) -> None:
        if self.question is not None:
            self.skipped.add(self.question)
            self.close_question()
            self.refresh_screen()

    # --- what the header and the narration say ---------------------------------------------------

    def quiz_state(self) -> str:
        if not self.quiz:
            return ""
        right, asked = score(list(self.verdicts.values()))
        return f" · score {right}/{asked}"

    def narrate(self, note: str) -> str:
        """The narration: the question before the reveal, the answer explained after it, then the note."""
        k = self.position
        if not self.quiz or (k != self.question and k not in self.verdicts and k not in self.skipped):
            return note
        pos, step = self.pipeline.step(k)
        kind = kind_of(self.pipeline.layers[pos.layer])
        key, index, value = computed(kind, step)
        name = label(kind, step, key, index)
        if k == self.question:
            return (f"**Predict `{name}`**, the number this step computes: it shows as `?`. Type your "
                    f"prediction and press Enter; Esc skips.\n\n{note}")
        layer = self.pipeline.layers[pos.layer]
        live, _ = view_class(layer).formula(self.context(pos.layer, step))
        verdict = self.verdicts.get(k)
        tolerance = self.scenario.info[pos.layer].stops.tolerance or self.scenario.tolerance
        if verdict is None:
            said = f"**Skipped.** `{name}` = **{val(value)}**."
        elif verdict.right:
            said = (f"**Right!** `{name}` = **{val(value)}**; you said {verdict.guess:g}: "
                    f"{verdict.by_how_much()}, within {tolerance.text()}.")
        else:
            said = (f"**Not quite.** `{name}` = **{val(value)}**; you said {verdict.guess:g}: "
                    f"{verdict.by_how_much()}, more than {tolerance.text()}.")
        return f"{said} How: `{live}`\n\n{note}"


def question_mark(segments: list[Segment]) -> int | None:
    """The cell where a strip shows the hidden number's `?`, or None."""
    x = 0
    for segment in segments:
        if segment.text.strip() == HIDDEN:
            return x
        x += segment.cell_length
    return None
