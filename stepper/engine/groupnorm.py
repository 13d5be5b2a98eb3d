"""GroupNorm and InstanceNorm: a statistic per sample and per group of channels, over those
channels and every position (see norm.py for the four formulas).

An (N, C, ...) batch is already laid out group by group: sample n's channels come one after the
other, each followed by its positions, so a reshape to (N * groups, C/groups * positions) gives the
(groups, members) matrix without moving a number. InstanceNorm is GroupNorm with a group per channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepper.engine.norm import Norm


@dataclass(frozen=True, eq=False)
class ChannelNorm(Norm):
    """Statistics within each sample, over a run of whole channels (with their positions)."""

    def per_sample(self, channels: int) -> int:
        """How many statistics each sample has."""
        raise NotImplementedError

    def group_count(self, shape: tuple[int, ...]) -> int:
        return shape[0] * self.per_sample(shape[1])

    def stat_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[0], self.per_sample(shape[1])

    def locate(self, g: int, shape: tuple[int, ...]) -> dict[str, int]:
        """Statistic ``g`` as its sample and its group (or channel) within the sample."""
        n, part = divmod(g, self.per_sample(shape[1]))
        return {"sample": n, "part": part}

    def matrix(self, x):
        return x.reshape(x.shape[0] * self.per_sample(x.shape[1]), -1)

    def unmatrix(self, m, shape):
        return m.reshape(shape)


@dataclass(frozen=True, eq=False)
class GroupNorm(ChannelNorm):
    """``groups`` statistics per sample, each over C/groups neighbouring channels and their positions."""

    type: str = field(init=False, default="groupnorm")
    axis_name = "group"
    groups: int = 1

    def per_sample(self, channels: int) -> int:
        return self.groups


@dataclass(frozen=True, eq=False)
class InstanceNorm(ChannelNorm):
    """One statistic per sample per channel, over its positions."""

    type: str = field(init=False, default="instancenorm")
    axis_name = "instance"

    def per_sample(self, channels: int) -> int:
        return channels
