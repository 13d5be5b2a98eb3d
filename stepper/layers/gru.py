"""`type: gru`: two gates blend h_{t-1} with a candidate n_t over a (T, I) sequence."""

from __future__ import annotations

from stepper.layers import Built, Kind, Source
from stepper.layers.lstm import read_gated


def read_gru(src: Source) -> Built:
    return read_gated(src, "rzn", 2, ("h0",))  # PyTorch's b_hn is zero: b_n is its b_in alone


KINDS = (
    Kind("gru", 12, ("hidden", "weights"), read_gru, engine="stepper.engine.gru:GRU",
         view="stepper.tui.gru_view:GRUView"),
)
