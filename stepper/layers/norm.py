"""`type: batchnorm` and `layernorm`: the same four formulas, statistics over different axes."""

from __future__ import annotations

import math

from stepper.layers import Built, Kind, Source
from stepper.yamlread import shape_text as _fmt

KEYS = ("eps", "gamma", "beta")


def read_batchnorm(src: Source) -> Built:
    eps, shape = read_eps(src), src.shape
    src.rank((2, 4), "an (N, F) batch or an (N, C, H, W) batch of images")
    what = "features" if len(shape) == 2 else "channels"
    if math.prod(shape) // shape[1] < 2:
        raise src.error(src.node, f"batchnorm over input {_fmt(shape)} has one value per {what[:-1]}: a batch "
                        "needs at least 2 samples")
    return normalise(src, eps, shape[1], what)


def read_layernorm(src: Source) -> Built:
    return normalise(src, read_eps(src), src.shape[-1], "features in the last axis")


def read_eps(src: Source) -> float:
    eps = src.number("eps", 1e-5)
    if eps <= 0:
        raise src.error(src.keys["eps"], f"eps is {eps:g}; it must be above 0 (PyTorch's default is 1e-5)")
    return eps


def normalise(src: Source, eps: float, n: int, what: str) -> Built:
    """The layer, with gamma and beta for the ``n`` features or channels (``what``) it normalises."""
    gamma = src.per_channel("gamma", n, 1.0, what)
    beta = src.per_channel("beta", n, 0.0, what)
    layer = src.build(gamma=gamma, beta=beta, eps=eps)
    return Built(layer, src.shape, layer.step_count(src.shape), 6 * math.prod(src.shape))


def statistics(trace):
    return {"mean": trace.mean, "var": trace.var}


KINDS = (
    Kind("batchnorm", 40, KEYS, read_batchnorm, engine="stepper.engine.norm:BatchNorm",
         view="stepper.tui.norm_view:BatchNormView", carries=statistics),
    Kind("layernorm", 41, KEYS, read_layernorm, engine="stepper.engine.norm:LayerNorm",
         view="stepper.tui.norm_view:LayerNormView", carries=statistics),
)
