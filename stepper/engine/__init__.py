"""The NumPy engine: every layer as a vectorised pass plus an indexable trace of its steps.

Nothing here imports the UI; views read states only through ``Trace`` and ``Step``.
"""

from importlib import import_module

from stepper.engine.pipeline import Pipeline, Position
from stepper.engine.trace import Layer, Param, Step, Trace

# The layer families load when first named, so a scenario pays only for the ones it uses.
FAMILIES = {"RNN": "rnn", "Conv1d": "conv", "Conv2d": "conv", "Pool2d": "conv", "out_size": "conv",
            "Dropout": "dropout", "BatchNorm": "norm", "LayerNorm": "norm", "Norm": "norm"}


def __getattr__(name: str):
    if name in FAMILIES:
        return getattr(import_module(f"stepper.engine.{FAMILIES[name]}"), name)
    raise AttributeError(f"module 'stepper.engine' has no attribute {name!r}")


__all__ = [
    "RNN", "BatchNorm", "Conv1d", "Conv2d", "Dropout", "Layer", "LayerNorm", "Norm", "Param",
    "Pipeline", "Pool2d", "Position", "Step", "Trace", "out_size",
]
