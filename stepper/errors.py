"""What every command does with input it refuses: one error base, one exit status.

A scenario file (`ScenarioError`), a flag of `stepper export` (`ExportError`) or of `stepper
serve` (`ServeError`): each is a `StepperError` whose text is the one line printed on stderr,
saying what is wrong and what would be right, and the command exits with EXIT_BAD_INPUT.
"""

EXIT_BAD_INPUT = 2  # a bad file, flag or value: nothing was written, no TUI started


class StepperError(Exception):
    """Input that stepper refuses; ``str(error)`` is the one line the user reads."""
