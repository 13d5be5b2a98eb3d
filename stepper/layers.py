"""The keys of each layer type in a scenario file, read into engine layers with their shapes checked.

Every reader gets the input shape the layer will receive and returns the layer, its output shape,
its step count and its multiply-adds, all known before the first number is computed.
"""

from __future__ import annotations

import math

import numpy as np
import yaml

from stepper.yamlread import Reader
from stepper.yamlread import shape_text as _fmt

COMMON = ("type", "notes", "step_notes")
KEYS = {
    "rnn": ("hidden", "activation", "weights"),
    "conv2d": ("kernel", "kernel_size", "out_channels", "bias", "stride", "padding", "dilation"),
    "conv1d": ("kernel", "kernel_size", "out_channels", "bias", "stride", "padding", "dilation"),
    "maxpool2d": ("size", "stride", "padding"),
    "avgpool2d": ("size", "stride", "padding"),
    "batchnorm": ("eps", "gamma", "beta"),
    "layernorm": ("eps", "gamma", "beta"),
    "dropout": ("p", "mode", "seed", "mask"),
}


def stage_members(reader: Reader, node: yaml.Node) -> list[yaml.Node]:
    """The layer nodes of one pipeline stage: one layer, or the members of `compare: [...]`."""
    if isinstance(node, yaml.MappingNode) and any(k.value == "compare" for k, _ in node.value):
        keys = reader.mapping(node, "a compare group", ("compare",))
        members = keys["compare"]
        if not isinstance(members, yaml.SequenceNode) or len(members.value) < 2:
            raise reader.error(members, "compare needs a list of at least two layers to show side by side")
        return list(members.value)
    return [node]


def read_layer(reader: Reader, budget, node: yaml.Node, shape: tuple[int, ...], rng: np.random.Generator,
               stream: tuple[int, int]):
    if not isinstance(node, yaml.MappingNode):
        raise reader.error(node, "each layer is a mapping starting with `type:` (for example `- type: rnn`)")
    type_node = next((v for k, v in node.value if k.value == "type"), None)
    if type_node is None:
        raise reader.error(node, "this layer needs `type:`, one of " + ", ".join(KEYS))
    kind = reader.string(type_node, "type", KEYS)
    keys = reader.mapping(node, f"{_a(kind)} {kind} layer", COMMON + KEYS[kind])
    notes = {"note": reader.string(keys["notes"], "notes") if "notes" in keys else ""}
    numbered = []  # (step number, its key node, its text)
    if "step_notes" in keys:
        m = keys["step_notes"]
        if not isinstance(m, yaml.MappingNode):
            raise reader.error(m, "step_notes maps step numbers to text, for example `0: first we ...`")
        numbered = [(reader.integer(k, "a step number", 0), k, reader.string(v, "a step note")) for k, v in m.value]
        notes["step_notes"] = {n: text for n, _, text in numbered}
    layer, out_shape, steps, work = READERS[kind](reader, budget, keys, node, shape, rng, stream, notes)
    for n, k, _ in numbered:
        if n >= steps:
            raise reader.error(k, f"step {n:,} is past the end of this {kind} layer: its steps are numbered "
                               f"0 to {steps - 1:,}")
    return layer, out_shape, steps, work


def _a(kind: str) -> str:
    return "an" if kind == "rnn" else "a"


def _weight(reader: Reader, budget, keys, name: str, shape: tuple[int, ...], why: str) -> np.ndarray | None:
    """An explicit weight of exactly ``shape``, or None when the key is absent."""
    if name not in keys:
        return None
    value = reader.array(keys[name], name, 4_194_304)
    if value.shape != shape:
        raise reader.error(keys[name], f"{name} has shape {_fmt(value.shape)}, but {why}: {name} must be "
                           f"{_fmt(shape)}")
    return value


def _per_channel(reader: Reader, keys, name: str, n: int, default: float, what: str) -> np.ndarray:
    """A number for every channel, or a list of ``n`` numbers (``what`` names the channels)."""
    if name not in keys:
        return np.full(n, default)
    if isinstance(keys[name], yaml.ScalarNode):
        return np.full(n, reader.number(keys[name], name))
    value = reader.array(keys[name], name, 4_194_304)
    if value.shape != (n,):
        raise reader.error(keys[name], f"{name} has shape {_fmt(value.shape)}, but there are {n} {what}: give "
                           f"one number or a list of {n}")
    return value


def _rank(reader: Reader, node, kind: str, shape: tuple[int, ...], ranks: tuple[int, ...], expected: str) -> None:
    if len(shape) not in ranks:
        raise reader.error(node, f"{_a(kind)} {kind} layer takes {expected}, but its input has shape {_fmt(shape)}")


def read_rnn(reader, budget, keys, node, shape, rng, stream, notes):
    from stepper.engine.rnn import ACTIVATIONS, RNN, init_weights

    _rank(reader, node, "rnn", shape, (2,), "a (T, I) sequence: time steps down the rows")
    if "hidden" not in keys:
        raise reader.error(node, "an rnn layer needs `hidden: N`, the size of h_t (for example hidden: 128)")
    hidden = reader.integer(keys["hidden"], "hidden", 1, 4096)
    act = reader.string(keys["activation"], "activation", ACTIVATIONS) if "activation" in keys else "tanh"
    t, inputs = shape
    wk = reader.mapping(keys["weights"], "rnn weights", ("U", "W", "b", "h0")) if "weights" in keys else {}
    for name, s in (("U", (inputs, hidden)), ("W", (hidden, hidden)), ("b", (hidden,))):
        budget.take(wk.get(name, keys["hidden"]), name, s)
    why = f"the input has {inputs} features per step and hidden is {hidden}"
    given = {n: _weight(reader, budget, wk, n, s, why) for n, s in
             (("U", (inputs, hidden)), ("W", (hidden, hidden)), ("b", (hidden,)), ("h0", (hidden,)))}
    drawn = init_weights(rng, inputs, hidden) if any(given[n] is None for n in "UWb") else {}
    w = {n: given[n] if given[n] is not None else drawn.get(n) for n in given}
    layer = RNN(w["U"], w["W"], w["b"], w["h0"], act, seeded=bool(drawn), **notes)
    return layer, (t, hidden), 4 * t, t * hidden * (inputs + hidden)


def read_conv(reader, budget, keys, node, shape, rng, stream, notes):
    from stepper.engine.conv import Conv1d, Conv2d, init_kernel

    kind = keys["type"].value
    one_d = kind == "conv1d"
    if one_d:
        _rank(reader, node, kind, shape, (2,), "a (T, E) sequence: one embedding per row")
        channels, (n_h, n_w) = 1, shape
    else:
        _rank(reader, node, kind, shape, (2, 3), "an (H, W) image or a (C, H, W) stack of channels")
        channels, (n_h, n_w) = (1 if len(shape) == 2 else shape[0]), shape[-2:]
    if ("kernel" in keys) == ("kernel_size" in keys):
        raise reader.error(node, f"a {kind} layer needs exactly one of `kernel` (the weights) or `kernel_size` "
                           "(seeded weights)")
    geometry = {}
    for name, default, minimum in (("stride", 1, 1), ("padding", 0, 0), ("dilation", 1, 1)):
        if name not in keys:
            geometry[name] = (default, 1 if name != "padding" else 0) if one_d else (default, default)
        elif one_d:
            geometry[name] = (reader.integer(keys[name], name, minimum), 1 if name != "padding" else 0)
        else:
            geometry[name] = reader.pair(keys[name], name, minimum)
    if "kernel" in keys:
        kernel, flat = read_kernel(reader, budget, keys["kernel"], kind, channels, n_w if one_d else None)
        seeded = False
    else:
        size = (reader.integer(keys["kernel_size"], "kernel_size", 1), n_w) if one_d else \
            reader.pair(keys["kernel_size"], "kernel_size", 1)
        out = reader.integer(keys["out_channels"], "out_channels", 1, 4096) if "out_channels" in keys else 1
        flat = "out_channels" not in keys and (one_d or len(shape) == 2)
        budget.take(keys["kernel_size"], "the kernel", (out, channels, *size))
        kernel, drawn_bias = init_kernel(rng, (out, channels, *size))
        seeded = True
    o = kernel.shape[0]
    if "bias" in keys:
        bias = _per_channel(reader, keys, "bias", o, 0.0, "output channels")
    else:
        bias = drawn_bias if seeded else np.zeros(o)
    kh, kw = kernel.shape[2:]
    _fits(reader, keys.get("kernel", keys.get("kernel_size")), (kh, kw), (n_h, n_w), geometry)
    _padded(budget, keys, node, channels, (n_h, n_w), geometry["padding"])
    cls = Conv1d if one_d else Conv2d
    layer = cls(stride=geometry["stride"], padding=geometry["padding"], dilation=geometry["dilation"],
                kernel=kernel, bias=bias, flat=flat, seeded=seeded, **notes)
    grid_in = (n_h, n_w) if one_d else shape
    steps = layer.step_count(grid_in)
    return layer, layer.output_shape(grid_in), steps, steps * channels * kh * kw


def read_kernel(reader, budget, node, kind, channels, width):
    """An explicit kernel as (O, C, kh, kw) and whether it was written without channel axes."""
    k = reader.array(node, "kernel", 4_194_304)
    budget.take(node, "kernel", k.shape)
    if width is not None:  # conv1d: (k, E) or (O, k, E)
        if k.ndim not in (2, 3) or k.shape[-1] != width:
            raise reader.error(node, f"kernel has shape {_fmt(k.shape)}, but the input rows are {width} wide: a "
                               f"conv1d kernel must be (k, {width}) or (O, k, {width}), spanning every column")
        return (k[None, None] if k.ndim == 2 else k[:, None]), k.ndim == 2
    if k.ndim == 2:
        if channels != 1:
            raise reader.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channels: "
                               f"give a 4-D kernel (O, {channels}, kh, kw)")
        return k[None, None], True
    if k.ndim != 4 or k.shape[1] != channels:
        raise reader.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channel(s): "
                           f"a conv2d kernel is (kh, kw) or (O, {channels}, kh, kw)")
    return k, False


def _fits(reader, node, size, n, geometry) -> None:
    """Refuse a window that spans more than the padded input."""
    for axis, name in ((0, "rows"), (1, "columns")):
        k, d, p = size[axis], geometry["dilation"][axis], geometry["padding"][axis]
        span = d * (k - 1) + 1
        if span > n[axis] + 2 * p:
            raise reader.error(node, f"the window spans {span} {name} (size {k}, dilation {d}) but the padded "
                               f"input has only {n[axis] + 2 * p} (size {n[axis]}, padding {p}): use a smaller "
                               "kernel or dilation, or more padding")


def _padded(budget, keys, node, channels: int, n: tuple[int, int], padding: tuple[int, int]) -> None:
    """Count the zero-padded copy of the input that the layer works on (a huge padding is refused here)."""
    if any(padding):
        budget.take(keys.get("padding", node), "the zero-padded input",
                    (channels, n[0] + 2 * padding[0], n[1] + 2 * padding[1]))


def read_pool(reader, budget, keys, node, shape, rng, stream, notes):
    from stepper.engine.conv import Pool2d

    kind = keys["type"].value
    _rank(reader, node, kind, shape, (2, 3), "an (H, W) image or a (C, H, W) stack of channels")
    if "size" not in keys:
        raise reader.error(node, f"a {kind} layer needs `size:` (for example size: 2)")
    size = reader.pair(keys["size"], "size", 1)
    stride = reader.pair(keys["stride"], "stride", 1) if "stride" in keys else size
    padding = reader.pair(keys["padding"], "padding", 0) if "padding" in keys else (0, 0)
    for p, k in zip(padding, size):
        if 2 * p > k:
            raise reader.error(keys["padding"], f"padding {p} is more than half the window size {k}: PyTorch "
                               f"allows at most {k // 2}")
    geometry = {"stride": stride, "padding": padding, "dilation": (1, 1)}
    _fits(reader, keys["size"], size, shape[-2:], geometry)
    _padded(budget, keys, node, 1 if len(shape) == 2 else shape[0], shape[-2:], padding)
    layer = Pool2d(size=size, stride=stride, padding=padding, kind=kind[:3], **notes)
    steps = layer.step_count(shape)
    return layer, layer.output_shape(shape), steps, steps * size[0] * size[1]


def read_norm(reader, budget, keys, node, shape, rng, stream, notes):
    from stepper.engine.norm import BatchNorm, LayerNorm

    kind = keys["type"].value
    eps = reader.number(keys["eps"], "eps") if "eps" in keys else 1e-5
    if eps <= 0:
        raise reader.error(keys["eps"], f"eps is {eps:g}; it must be above 0 (PyTorch's default is 1e-5)")
    if kind == "batchnorm":
        _rank(reader, node, kind, shape, (2, 4), "an (N, F) batch or an (N, C, H, W) batch of images")
        per_group = math.prod(shape) // shape[1]
        if per_group < 2:
            raise reader.error(node, f"batchnorm over input {_fmt(shape)} has one value per "
                               f"{'feature' if len(shape) == 2 else 'channel'}: a batch needs at least 2 samples")
        n, what, cls = shape[1], "features" if len(shape) == 2 else "channels", BatchNorm
    else:
        n, what, cls = shape[-1], "features in the last axis", LayerNorm
    gamma = _per_channel(reader, keys, "gamma", n, 1.0, what)
    beta = _per_channel(reader, keys, "beta", n, 0.0, what)
    layer = cls(gamma=gamma, beta=beta, eps=eps, **notes)
    return layer, tuple(shape), layer.step_count(shape), 6 * math.prod(shape)


def read_dropout(reader, budget, keys, node, shape, rng, stream, notes):
    from stepper.engine.dropout import Dropout

    p = reader.number(keys["p"], "p") if "p" in keys else 0.5
    if not 0 <= p < 1:
        raise reader.error(keys["p"], f"p is {p:g}; it must be in [0, 1): the chance to drop each element")
    mode = reader.string(keys["mode"], "mode", ("train", "eval")) if "mode" in keys else "train"
    seed = reader.integer(keys["seed"], "seed", 0, 2**63 - 1) if "seed" in keys else stream
    mask = None
    if "mask" in keys:
        mask = reader.array(keys["mask"], "mask", 4_194_304)
        if mask.shape != tuple(shape):
            raise reader.error(keys["mask"], f"mask has shape {_fmt(mask.shape)}, but the input has shape "
                               f"{_fmt(shape)}: give one 0 or 1 per element")
        if not np.isin(mask, (0, 1)).all():
            raise reader.error(keys["mask"], "mask holds values other than 0 and 1: 1 keeps an element, 0 "
                               "drops it")
    layer = Dropout(p=p, mode=mode, seed=seed, mask=mask, **notes)
    n = math.prod(shape)
    return layer, tuple(shape), n, n


READERS = {"rnn": read_rnn, "conv2d": read_conv, "conv1d": read_conv, "maxpool2d": read_pool,
           "avgpool2d": read_pool, "batchnorm": read_norm, "layernorm": read_norm, "dropout": read_dropout}


