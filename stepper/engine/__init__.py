"""The NumPy engine: every layer as a vectorised pass plus an indexable trace of its steps.

Nothing here imports the UI; views read states only through ``Trace`` and ``Step``.
"""

import os
from importlib import import_module

from stepper.engine.pipeline import Pipeline, Position
from stepper.engine.trace import Layer, Param, Step, Trace

SHARED = ("pipeline", "trace")  # the modules above; every other module here is one layer family


def __getattr__(name: str):
    """A family's name (``stepper.engine.RNN``, ``out_size``...), its module imported when first asked
    for, so a scenario pays only for the families it uses."""
    for module in sorted(os.listdir(os.path.dirname(__file__))):
        family = module[:-3]
        if module.endswith(".py") and not module.startswith("_") and family not in SHARED:
            found = getattr(import_module(f"stepper.engine.{family}"), name, None)
            if getattr(found, "__module__", None) == f"stepper.engine.{family}":  # defined there, not imported
                return found
    raise AttributeError(f"module 'stepper.engine' has no attribute {name!r}")


__all__ = ["Layer", "Param", "Pipeline", "Position", "Step", "Trace"]
