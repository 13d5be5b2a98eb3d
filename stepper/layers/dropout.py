"""`type: dropout`: each element dropped with probability p, survivors scaled by 1/(1-p)."""

from __future__ import annotations

import math

import numpy as np

from stepper.layers import MAX_ARRAY, Built, Kind, Source
from stepper.yamlread import shape_text as _fmt


def read_dropout(src: Source) -> Built:
    reader, keys, shape = src.reader, src.keys, src.shape
    p = src.number("p", 0.5)
    if not 0 <= p < 1:
        raise src.error(keys["p"], f"p is {p:g}; it must be in [0, 1): the chance to drop each element")
    mode = reader.string(keys["mode"], "mode", ("train", "eval")) if "mode" in keys else "train"
    seed = reader.integer(keys["seed"], "seed", 0, 2**63 - 1) if "seed" in keys else src.stream
    mask = None
    if "mask" in keys:
        mask = reader.array(keys["mask"], "mask", MAX_ARRAY)
        if mask.shape != shape:
            raise src.error(keys["mask"], f"mask has shape {_fmt(mask.shape)}, but the input has shape "
                            f"{_fmt(shape)}: give one 0 or 1 per element")
        if not np.isin(mask, (0, 1)).all():
            raise src.error(keys["mask"], "mask holds values other than 0 and 1: 1 keeps an element, 0 drops it")
    layer = src.build(p=p, mode=mode, seed=seed, mask=mask)
    n = math.prod(shape)
    return Built(layer, shape, n, n)


def coins(trace):
    return {"mask": trace.keep.astype(int)}


KINDS = (
    Kind("dropout", 50, ("p", "mode", "seed", "mask"), read_dropout, engine="stepper.engine.dropout:Dropout",
         view="stepper.tui.dropout_view:DropoutView", carries=coins),
)
