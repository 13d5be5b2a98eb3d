"""GroupNorm and InstanceNorm: always drawn as blocks (a band per sample, a block per channel), the
current statistic lighting one sample's group of neighbouring channels, or one channel.
"""

from __future__ import annotations

import numpy as np

from stepper.tui.norm_view import NormView, positions


class ChannelNormView(NormView):
    """Always blocks; a statistic per sample and ``part`` of its channels."""

    across_batch = False
    part: str  # what of a sample one statistic covers: a group, a channel

    @staticmethod
    def blocks(trace) -> bool:
        return True

    @classmethod
    def where(cls, trace, g: int) -> str:
        n, j = divmod(g, trace.stat_shape[1])
        return f"sample {n + 1} {cls.part} {j + 1}"

    @classmethod
    def short(cls, trace, g: int) -> str:
        n, j = divmod(g, trace.stat_shape[1])
        return f"n{n + 1}{cls.part[0]}{j + 1}"


class GroupNormView(ChannelNormView):
    part = "group"

    @staticmethod
    def axes(trace) -> tuple[str, ...]:
        size = trace.input.shape[1] // trace.layer.groups
        return (f"{size} c" if size > 1 else "c", *positions(trace.input.ndim))

    @staticmethod
    def reduces(trace) -> str:
        n, groups = trace.input.shape, trace.layer.groups
        size = n[1] // groups
        where = f"{size} channel{'s' if size > 1 else ''}" + (" and their positions" if len(n) > 2 else "")
        return f"GroupNorm: per sample, {groups} groups of {where} (eps {trace.layer.eps:g})"


class InstanceNormView(ChannelNormView):
    part = "channel"

    @staticmethod
    def axes(trace) -> tuple[str, ...]:
        return positions(trace.input.ndim)

    @staticmethod
    def reduces(trace) -> str:
        n = trace.input.shape
        return (f"InstanceNorm: per sample, per channel, over its {int(np.prod(n[2:]))} positions "
                f"(eps {trace.layer.eps:g})")
