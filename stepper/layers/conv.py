"""`type: conv2d`, `conv1d`, `maxpool2d` and `avgpool2d`: a window sliding over a (padded) grid."""

from __future__ import annotations

import numpy as np

from stepper.layers import MAX_ARRAY, Built, Kind, Source
from stepper.yamlread import shape_text as _fmt

CONV_KEYS = ("kernel", "kernel_size", "out_channels", "bias", "stride", "padding", "dilation")
POOL_KEYS = ("size", "stride", "padding")


def read_conv(src: Source) -> Built:
    from stepper.engine.conv import init_kernel

    reader, keys, node, shape, kind = src.reader, src.keys, src.node, src.shape, src.kind.name
    one_d = kind == "conv1d"
    if one_d:
        src.rank((2,), "a (T, E) sequence: one embedding per row")
        channels, (n_h, n_w) = 1, shape
    else:
        src.rank((2, 3), "an (H, W) image or a (C, H, W) stack of channels")
        channels, (n_h, n_w) = (1 if len(shape) == 2 else shape[0]), shape[-2:]
    if ("kernel" in keys) == ("kernel_size" in keys):
        raise src.error(node, f"a {kind} layer needs exactly one of `kernel` (the weights) or `kernel_size` "
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
        kernel, flat = read_kernel(src, keys["kernel"], channels, n_w if one_d else None)
        seeded = False
    else:
        size = (reader.integer(keys["kernel_size"], "kernel_size", 1), n_w) if one_d else \
            reader.pair(keys["kernel_size"], "kernel_size", 1)
        out = reader.integer(keys["out_channels"], "out_channels", 1, 4096) if "out_channels" in keys else 1
        flat = "out_channels" not in keys and (one_d or len(shape) == 2)
        src.budget.take(keys["kernel_size"], "the kernel", (out, channels, *size))
        kernel, drawn_bias = init_kernel(src.rng, (out, channels, *size))
        seeded = True
    o = kernel.shape[0]
    if "bias" in keys:
        bias = src.per_channel("bias", o, 0.0, "output channels")
    else:
        bias = drawn_bias if seeded else np.zeros(o)
    kh, kw = kernel.shape[2:]
    fits(src, keys.get("kernel", keys.get("kernel_size")), (kh, kw), (n_h, n_w), geometry)
    padded(src, channels, (n_h, n_w), geometry["padding"])
    layer = src.build(stride=geometry["stride"], padding=geometry["padding"], dilation=geometry["dilation"],
                      kernel=kernel, bias=bias, flat=flat, seeded=seeded)
    grid_in = (n_h, n_w) if one_d else shape
    steps = layer.step_count(grid_in)
    return Built(layer, layer.output_shape(grid_in), steps, steps * channels * kh * kw)


def read_kernel(src: Source, node, channels: int, width: int | None):
    """An explicit kernel as (O, C, kh, kw) and whether it was written without channel axes."""
    k = src.reader.array(node, "kernel", MAX_ARRAY)
    src.budget.take(node, "kernel", k.shape)
    if width is not None:  # conv1d: (k, E) or (O, k, E)
        if k.ndim not in (2, 3) or k.shape[-1] != width:
            raise src.error(node, f"kernel has shape {_fmt(k.shape)}, but the input rows are {width} wide: a "
                            f"conv1d kernel must be (k, {width}) or (O, k, {width}), spanning every column")
        return (k[None, None] if k.ndim == 2 else k[:, None]), k.ndim == 2
    if k.ndim == 2:
        if channels != 1:
            raise src.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channels: "
                            f"give a 4-D kernel (O, {channels}, kh, kw)")
        return k[None, None], True
    if k.ndim != 4 or k.shape[1] != channels:
        raise src.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channel(s): "
                        f"a conv2d kernel is (kh, kw) or (O, {channels}, kh, kw)")
    return k, False


def fits(src: Source, node, size, n, geometry) -> None:
    """Refuse a window that spans more than the padded input."""
    for axis, name in ((0, "rows"), (1, "columns")):
        k, d, p = size[axis], geometry["dilation"][axis], geometry["padding"][axis]
        span = d * (k - 1) + 1
        if span > n[axis] + 2 * p:
            raise src.error(node, f"the window spans {span} {name} (size {k}, dilation {d}) but the padded "
                            f"input has only {n[axis] + 2 * p} (size {n[axis]}, padding {p}): use a smaller "
                            "kernel or dilation, or more padding")


def padded(src: Source, channels: int, n: tuple[int, int], padding: tuple[int, int]) -> None:
    """Count the zero-padded copy of the input that the layer works on (a huge padding is refused here)."""
    if any(padding):
        src.budget.take(src.keys.get("padding", src.node), "the zero-padded input",
                        (channels, n[0] + 2 * padding[0], n[1] + 2 * padding[1]))


def read_pool(src: Source) -> Built:
    reader, keys, shape, kind = src.reader, src.keys, src.shape, src.kind.name
    src.rank((2, 3), "an (H, W) image or a (C, H, W) stack of channels")
    if "size" not in keys:
        raise src.error(src.node, f"a {kind} layer needs `size:` (for example size: 2)")
    size = reader.pair(keys["size"], "size", 1)
    stride = reader.pair(keys["stride"], "stride", 1) if "stride" in keys else size
    padding = reader.pair(keys["padding"], "padding", 0) if "padding" in keys else (0, 0)
    for p, k in zip(padding, size):
        if 2 * p > k:
            raise src.error(keys["padding"], f"padding {p} is more than half the window size {k}: PyTorch "
                            f"allows at most {k // 2}")
    geometry = {"stride": stride, "padding": padding, "dilation": (1, 1)}
    fits(src, keys["size"], size, shape[-2:], geometry)
    padded(src, 1 if len(shape) == 2 else shape[0], shape[-2:], padding)
    layer = src.build(size=size, stride=stride, padding=padding, kind=kind[:3])
    steps = layer.step_count(shape)
    return Built(layer, layer.output_shape(shape), steps, steps * size[0] * size[1])


def the_sum(step) -> tuple[str, ...]:
    """A window's sum gives its result away (the result is the sum plus the bias, or over the count):
    the quiz and the class poll hide it with the result."""
    return ("sum",) if "sum" in step.values else ()


KINDS = (
    Kind("conv2d", 20, CONV_KEYS, read_conv, engine="stepper.engine.conv:Conv2d",
         view="stepper.tui.conv_view:Conv2dView", reveals=the_sum),
    Kind("conv1d", 21, CONV_KEYS, read_conv, engine="stepper.engine.conv:Conv1d",
         view="stepper.tui.conv_view:Conv1dView", reveals=the_sum),
    Kind("maxpool2d", 30, POOL_KEYS, read_pool, engine="stepper.engine.conv:Pool2d",
         view="stepper.tui.conv_view:MaxPoolView"),
    Kind("avgpool2d", 31, POOL_KEYS, read_pool, engine="stepper.engine.conv:Pool2d",
         view="stepper.tui.conv_view:AvgPoolView", reveals=the_sum),
)
