"""The normalisation family: the same four formulas, statistics over different axes.

`batchnorm` (across the batch, per feature or channel; train or eval), `layernorm` and `rmsnorm`
(within each sample, over the last axis), `groupnorm` and `instancenorm` (within each sample, over a
group of channels or one channel, with their positions).
"""

from __future__ import annotations

import math

import numpy as np
import yaml

from stepper.layers import Built, Kind, Source
from stepper.yamlread import shape_text as _fmt

KEYS = ("eps", "gamma", "beta")
BATCH_KEYS = KEYS + ("mode", "momentum", "running_mean", "running_var")


def read_batchnorm(src: Source) -> Built:
    eps, shape, keys = read_eps(src), src.shape, src.keys
    src.rank((2, 4), "an (N, F) batch or an (N, C, H, W) batch of images")
    what = "features" if len(shape) == 2 else "channels"
    mode = src.reader.string(keys["mode"], "mode", ("train", "eval")) if "mode" in keys else "train"
    momentum = src.number("momentum", 0.1)
    if not 0 <= momentum <= 1:
        raise src.error(keys["momentum"], f"momentum is {momentum:g}; it must be in [0, 1]: the share of this "
                        "batch's statistics in the running ones (PyTorch's default is 0.1)")
    if mode == "train" and math.prod(shape) // shape[1] < 2:
        raise src.error(src.node, f"batchnorm in train mode over input {_fmt(shape)} has one value per "
                        f"{what[:-1]}: its variance is 0, so every output would be beta whatever the input; a "
                        "batch needs at least 2 samples (or `mode: eval`, which uses running_mean and running_var)")
    running_mean = src.per_channel("running_mean", shape[1], 0.0, what)
    running_var = src.per_channel("running_var", shape[1], 1.0, what)
    if (running_var < 0).any():
        i = int(np.argmax(running_var < 0))
        node = keys["running_var"]
        at = node.value[i] if isinstance(node, yaml.SequenceNode) else node
        which = f" for {what[:-1]} {i + 1}" if isinstance(node, yaml.SequenceNode) else ""
        raise src.error(at, f"running_var is {running_var[i]:g}{which}; a variance is never negative: give 0 or "
                        "more (the default is 1)")
    return normalise(src, shape[1], what, eps=eps, mode=mode, momentum=momentum, running_mean=running_mean,
                     running_var=running_var)


def read_layernorm(src: Source) -> Built:
    return normalise(src, src.shape[-1], "features in the last axis", eps=read_eps(src))


def read_rmsnorm(src: Source) -> Built:
    eps = read_eps(src, 1e-6)
    gamma = src.per_channel("gamma", src.shape[-1], 1.0, "features in the last axis")
    layer = src.build(gamma=gamma, eps=eps)
    return Built(layer, src.shape, layer.step_count(src.shape), 5 * math.prod(src.shape))


def read_groupnorm(src: Source) -> Built:
    src.rank((2, 3, 4), "an (N, C, ...) batch: samples, channels, then any positions")
    if "groups" not in src.keys:
        raise src.error(src.node, "a groupnorm layer needs `groups: G`, how many groups each sample's channels "
                        "are split into (for example groups: 2)")
    groups = src.reader.integer(src.keys["groups"], "groups", 1)
    channels = src.shape[1]
    if channels % groups:
        divisors = [str(d) for d in range(1, channels + 1) if channels % d == 0]
        choices = ", ".join(divisors[:-1]) + " or " + divisors[-1] if len(divisors) > 1 else divisors[0]
        raise src.error(src.keys["groups"], f"groups is {groups}, but the input has {channels} channels: groups "
                        f"must divide {channels} ({choices}), so that every group has as many channels")
    if channels // groups * math.prod(src.shape[2:]) < 2:
        raise src.error(src.keys["groups"], f"groupnorm with {groups} groups over input {_fmt(src.shape)} has one "
                        "value per group: its variance is 0, so every output would be beta; use fewer groups")
    return normalise(src, channels, "channels", eps=read_eps(src), groups=groups)


def read_instancenorm(src: Source) -> Built:
    if len(src.shape) not in (3, 4):
        raise src.error(src.node, f"an instancenorm layer takes statistics per sample per channel over its "
                        f"positions: it needs an (N, C, L) or (N, C, H, W) input, but its input has shape "
                        f"{_fmt(src.shape)}" + (", with no positions; for an (N, F) batch use layernorm or batchnorm"
                                                if len(src.shape) == 2 else ""))
    if math.prod(src.shape[2:]) < 2:
        raise src.error(src.node, f"instancenorm over input {_fmt(src.shape)} has one position per channel: its "
                        "variance is 0, so every output would be beta; give each channel at least 2 positions")
    return normalise(src, src.shape[1], "channels", eps=read_eps(src))


def read_eps(src: Source, default: float = 1e-5) -> float:
    eps = src.number("eps", default)
    if eps <= 0:
        shown = f"{default:.0e}".replace("e-0", "e-") + (", as in PyTorch" if default == 1e-5 else "")
        raise src.error(src.keys["eps"], f"eps is {eps:g}; it must be above 0 ({src.kind.name}'s default is {shown})")
    return eps


def normalise(src: Source, n: int, what: str, **fields) -> Built:
    """The layer, with gamma and beta for the ``n`` features or channels (``what``) it normalises."""
    gamma = src.per_channel("gamma", n, 1.0, what)
    beta = src.per_channel("beta", n, 0.0, what)
    layer = src.build(gamma=gamma, beta=beta, **fields)
    return Built(layer, src.shape, layer.step_count(src.shape), 6 * math.prod(src.shape))


def statistics(trace):
    return {name: trace.stats[name].reshape(trace.stat_shape) for name in ("mean", "var")}


def batch_statistics(trace):
    return statistics(trace) | {name: trace.stats[name] for name in ("running_mean", "running_var")}


def root_mean_square(trace):
    return {"rms": trace.stats["rms"]}


def running_update(step):
    """In train mode a BatchNorm step's running statistic gives its statistic away (the quiz hides both)."""
    if "momentum" not in step.values:
        return ()
    return {"mean": ("running_mean",), "var": ("unbiased_var", "running_var")}.get(step.phase, ())


def within_sample(part: str):
    """Where a GroupNorm or InstanceNorm step is: its sample and its group or channel, from 1."""
    return lambda step: {"sample": step.highlight["sample"] + 1, part: step.highlight["part"] + 1}


KINDS = (
    Kind("batchnorm", 40, BATCH_KEYS, read_batchnorm, engine="stepper.engine.norm:BatchNorm",
         view="stepper.tui.norm_view:BatchNormView", carries=batch_statistics, reveals=running_update),
    Kind("layernorm", 41, KEYS, read_layernorm, engine="stepper.engine.norm:LayerNorm",
         view="stepper.tui.norm_view:LayerNormView", carries=statistics),
    Kind("instancenorm", 42, KEYS, read_instancenorm, engine="stepper.engine.groupnorm:InstanceNorm",
         view="stepper.tui.groupnorm_view:InstanceNormView", carries=statistics, places=within_sample("channel"),
         article="an"),
    Kind("groupnorm", 43, ("groups",) + KEYS, read_groupnorm, engine="stepper.engine.groupnorm:GroupNorm",
         view="stepper.tui.groupnorm_view:GroupNormView", carries=statistics, places=within_sample("group")),
    Kind("rmsnorm", 44, ("eps", "gamma"), read_rmsnorm, engine="stepper.engine.norm:RMSNorm",
         view="stepper.tui.norm_view:RMSNormView", carries=root_mean_square, article="an"),
)
