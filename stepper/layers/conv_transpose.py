"""`type: conv_transpose2d`: every input value scatters a kernel-weighted copy into a larger output."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stepper.layers import MAX_ARRAY, Built, Kind, Source
from stepper.yamlread import shape_text as _fmt

if TYPE_CHECKING:
    from stepper.engine import Step

KEYS = ("kernel", "kernel_size", "out_channels", "bias", "stride", "padding", "output_padding", "dilation")
GEOMETRY = (("stride", 1, 1), ("padding", 0, 0), ("output_padding", 0, 0), ("dilation", 1, 1))  # default, least


def read_conv_transpose(src: Source) -> Built:
    from stepper.engine.conv import init_kernel

    reader, keys, node, shape = src.reader, src.keys, src.node, src.shape
    src.rank((2, 3), "an (H, W) image or a (C, H, W) stack of channels")
    channels = 1 if len(shape) == 2 else shape[0]
    if ("kernel" in keys) == ("kernel_size" in keys):
        raise src.error(node, "a conv_transpose2d layer needs exactly one of `kernel` (the weights) or "
                        "`kernel_size` (seeded weights)")
    geometry = {name: reader.pair(keys[name], name, least) if name in keys else (default, default)
                for name, default, least in GEOMETRY}
    if "kernel" in keys:
        if "out_channels" in keys:
            raise src.error(keys["out_channels"], "out_channels goes with kernel_size: with `kernel`, the "
                            "output channels are the kernel's second size, (C, O, kh, kw)")
        kernel, flat = read_kernel(src, keys["kernel"], channels)
        drawn_bias = np.zeros(kernel.shape[1])
    else:
        size = reader.pair(keys["kernel_size"], "kernel_size", 1)
        out = reader.integer(keys["out_channels"], "out_channels", 1, 4096) if "out_channels" in keys else 1
        flat = "out_channels" not in keys and len(shape) == 2
        src.budget.take(keys["kernel_size"], "the kernel", (channels, out, *size))
        kernel, drawn_bias = init_kernel(src.rng, (channels, out, *size), out_axis=1)
    o = kernel.shape[1]
    bias = src.per_channel("bias", o, 0.0, "output channels") if "bias" in keys else drawn_bias
    output_padding_fits(src, geometry)
    layer = src.build(kernel=kernel, bias=bias, flat=flat, seeded="kernel_size" in keys, **geometry)
    axes = layer.axes(shape)
    leaves_output(src, axes)
    src.budget.take(keys.get("stride", node), "the uncropped output", (o, axes[0].canvas, axes[1].canvas))
    steps = layer.step_count(shape)
    return Built(layer, layer.output_shape(shape), steps, channels * shape[-2] * shape[-1] * kernel[0].size)


def read_kernel(src: Source, node, channels: int) -> tuple[np.ndarray, bool]:
    """An explicit kernel as (C, O, kh, kw) and whether it was written without channel axes."""
    k = src.reader.array(node, "kernel", MAX_ARRAY)
    src.budget.take(node, "kernel", k.shape)
    if k.ndim == 2:
        if channels != 1:
            raise src.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channels: "
                            f"give a 4-D kernel ({channels}, O, kh, kw), input channels first as in PyTorch")
        return k[None, None], True
    if k.ndim != 4 or k.shape[0] != channels:
        hint = (f" (this is conv2d's (O, C, kh, kw) order; a transposed convolution's kernel is ({channels}, "
                f"{k.shape[0]}, kh, kw))" if k.ndim == 4 and k.shape[1] == channels else "")
        raise src.error(node, f"kernel has shape {_fmt(k.shape)}, but the input has {channels} channel(s): a "
                        f"conv_transpose2d kernel is (kh, kw) or ({channels}, O, kh, kw), PyTorch's layout{hint}")
    return k, False


def output_padding_fits(src: Source, geometry: dict[str, tuple[int, int]]) -> None:
    """PyTorch's rule: output_padding must be smaller than the stride or the dilation."""
    for op, s, d in zip(geometry["output_padding"], geometry["stride"], geometry["dilation"]):
        if op >= s and op >= d:
            raise src.error(src.keys["output_padding"], f"output_padding is {op}, but it must be smaller than "
                            f"the stride ({s}) or the dilation ({d}), as in PyTorch: use at most {max(s, d) - 1}")


def leaves_output(src: Source, axes) -> None:
    """Refuse a padding that crops the whole output away."""
    for axis, name in zip(axes, ("rows", "columns")):
        if axis.out < 1:
            raise src.error(src.keys.get("padding", src.node),
                            f"padding {axis.p} crops the whole output: the copies cover {axis.full} {name}, and "
                            f"{axis.full} - 2*{axis.p} + {axis.op} (output_padding) leaves {axis.name} = {axis.out}; "
                            f"use padding at most {(axis.full + axis.op - 1) // 2}")


def places(step: Step) -> dict[str, int]:
    """Where a step is, as the screen writes it (from 0): the input value x[c,i,j] that scatters into
    output channel o, or the output value y[o,r,q]."""
    h = step.highlight
    if "element" in h:
        c, i, j = h["element"]
        return {"o": int(h["channel"]), "c": int(c), "i": int(i), "j": int(j)}
    return {"o": int(h["channel"]), "r": int(h["out"][0]), "q": int(h["out"][1])}


def output_value(step: Step) -> tuple[str, int] | None:
    """The number a step computes: an output value; a scatter step's copy is a whole grid of them."""
    return ("result", 0) if "out" in step.highlight else None


KINDS = (
    Kind("conv_transpose2d", 22, KEYS, read_conv_transpose, engine="stepper.engine.conv_transpose:ConvTranspose2d",
         view="stepper.tui.conv_transpose_view:ConvTransposeView", places=places, computes=output_value),
)
