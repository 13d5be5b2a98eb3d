"""The NumPy engine: every layer as a vectorised pass plus an indexable trace of its steps.

Nothing here imports the UI; views read states only through ``Trace`` and ``Step``.
"""

from stepper.engine.conv import Conv1d, Conv2d, Pool2d, out_size
from stepper.engine.dropout import Dropout
from stepper.engine.norm import BatchNorm, LayerNorm, Norm
from stepper.engine.pipeline import Pipeline, Position
from stepper.engine.rnn import RNN
from stepper.engine.trace import Layer, Param, Step, Trace

__all__ = [
    "RNN", "BatchNorm", "Conv1d", "Conv2d", "Dropout", "Layer", "LayerNorm", "Norm", "Param",
    "Pipeline", "Pool2d", "Position", "Step", "Trace", "out_size",
]
