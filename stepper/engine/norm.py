"""Normalisation: the same four formulas, reduced over different axes.

    mean  = (1/m) sum x          var = (1/m) sum (x - mean)^2   (biased, as PyTorch uses in training)
    x_hat = (x - mean) / sqrt(var + eps)                        y = gamma * x_hat + beta

Every norm is computed on a (groups, members) matrix: one row per statistic, holding the m values
it is taken over. BatchNorm's rows are features (or channels) and its members the samples of the
batch; LayerNorm's rows are samples and its members their features; GroupNorm and InstanceNorm
(groupnorm.py) take a sample's group of channels, or one channel, with its positions. RMSNorm keeps
LayerNorm's rows but subtracts no mean: its two statistics are the mean of squares and the rms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from stepper.engine.trace import Layer, Param, Step, Trace, frozen

PHASES = ("mean", "var", "normalise", "scale")
FORMULAS = {
    "mean": "mean = (1/m) * sum(x)",
    "var": "var = (1/m) * sum((x - mean)^2)",
    "normalise": "x_hat = (x - mean) / sqrt(var + eps)",
    "scale": "y = gamma * x_hat + beta",
}
EVAL_FORMULAS = {**FORMULAS, "mean": "mean = running_mean (eval: kept from training, not this batch's)",
                 "var": "var = running_var (eval: kept from training, not this batch's)"}
RESULTS = {"mean": "mean", "var": "var", "normalise": "x_hat", "scale": "y"}


@dataclass(frozen=True, eq=False)
class Norm(Layer):
    """The four formulas over a (groups, members) matrix; subclasses say what a group is."""

    keeps_rows = True  # the output has the input's shape
    phases: ClassVar[tuple[str, ...]] = PHASES
    stats: ClassVar[tuple[str, str]] = ("mean", "var")  # what the first two phases compute
    results: ClassVar[dict[str, str]] = RESULTS
    axis_name: ClassVar[str] = ""  # what one statistic belongs to: "feature", "sample", "group"...
    affine_axis: ClassVar[int] = 1  # the input axis gamma and beta run along
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    eps: float = 1e-5

    def matrix(self, x: np.ndarray) -> np.ndarray:
        """x as a (groups, members) matrix."""
        raise NotImplementedError

    def unmatrix(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The inverse of ``matrix``."""
        raise NotImplementedError

    def group_count(self, shape: tuple[int, ...]) -> int:
        raise NotImplementedError

    def stat_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of each statistic on the `trace --json` output line."""
        return (self.group_count(shape),)

    def formula(self, phase: str) -> str:
        return FORMULAS[phase]

    def params(self) -> list[Param]:
        return [Param(n, v) for n, v in (("gamma", self.gamma), ("beta", self.beta)) if v is not None]

    def gamma_beta(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """gamma and beta for ``n`` features, 1 and 0 where they were not given."""
        gamma = np.ones(n) if self.gamma is None else np.asarray(self.gamma, dtype=np.float64)
        beta = np.zeros(n) if self.beta is None else np.asarray(self.beta, dtype=np.float64)
        return gamma, beta

    def affine(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """gamma and beta of every member of the (groups, members) matrix."""
        along = [1] * len(shape)
        along[self.affine_axis] = shape[self.affine_axis]
        return tuple(self.matrix(np.broadcast_to(v.reshape(along), shape))
                     for v in self.gamma_beta(shape[self.affine_axis]))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return len(self.phases) * self.group_count(shape)

    def moments(self, m: np.ndarray) -> dict[str, np.ndarray]:
        """The statistics of each row: its mean and (biased) variance."""
        mean = m.mean(axis=1)
        return {"mean": mean, "var": ((m - mean[:, None]) ** 2).mean(axis=1)}

    def statistics(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        m = self.matrix(x)
        stats = self.moments(m)
        x_hat = (m - stats["mean"][:, None]) / np.sqrt(stats["var"][:, None] + self.eps)
        gamma, beta = self.affine(x.shape)
        return {"x": m, **stats, "x_hat": x_hat, "y": gamma * x_hat + beta, "gamma": gamma, "beta": beta}

    def extras(self, stats: dict[str, np.ndarray], p: int, g: int) -> dict[str, np.ndarray]:
        """Values a kind adds to step (phase ``p``, group ``g``) besides the four formulas'."""
        return {}

    def locate(self, g: int, shape: tuple[int, ...]) -> dict[str, int]:
        """Where statistic ``g`` is, beyond its number, for a step's highlight (counted from 0)."""
        return {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.unmatrix(self.statistics(x)["y"], x.shape)

    def trace(self, x: np.ndarray) -> NormTrace:
        return NormTrace(self, np.asarray(x, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class BatchNorm(Norm):
    """Statistics per feature (N, F) or per channel (N, C, H, W), across the whole batch.

    In train mode the batch's statistics normalise it, and the running statistics take a step
    toward them: running = (1 - momentum) running + momentum stat, the variance unbiased (m - 1) as
    in PyTorch. In eval mode the running statistics normalise, whatever the batch."""

    type: str = field(init=False, default="batchnorm")
    axis_name = "feature"
    mode: str = "train"
    momentum: float = 0.1
    running_mean: np.ndarray | None = None
    running_var: np.ndarray | None = None

    def group_count(self, shape: tuple[int, ...]) -> int:
        return shape[1]

    def matrix(self, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)

    def unmatrix(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        moved = (shape[1], shape[0], *shape[2:])
        return np.moveaxis(m.reshape(moved), 0, 1)

    def formula(self, phase: str) -> str:
        return (EVAL_FORMULAS if self.mode == "eval" else FORMULAS)[phase]

    def running(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """running_mean and running_var as given (0 and 1 where they were not)."""
        mean = np.zeros(n) if self.running_mean is None else np.asarray(self.running_mean, dtype=np.float64)
        var = np.ones(n) if self.running_var is None else np.asarray(self.running_var, dtype=np.float64)
        return mean, var

    def moments(self, m: np.ndarray) -> dict[str, np.ndarray]:
        batch = super().moments(m)
        mean, var = self.running(m.shape[0])
        if self.mode == "eval":
            return {"mean": mean, "var": var, "batch_mean": batch["mean"], "batch_var": batch["var"],
                    "running_mean": mean, "running_var": var}
        n, k = m.shape[1], self.momentum
        with np.errstate(divide="ignore", invalid="ignore"):  # one value per feature: no unbiased variance
            unbiased = batch["var"] * n / (n - 1) if n > 1 else np.full_like(batch["var"], np.nan)
        return {**batch, "unbiased_var": unbiased, "running_mean": (1 - k) * mean + k * batch["mean"],
                "running_var": (1 - k) * var + k * unbiased}

    def extras(self, stats: dict[str, np.ndarray], p: int, g: int) -> dict[str, np.ndarray]:
        mean, var = self.running(len(stats["mean"]))
        if self.mode == "eval":
            return {"batch_mean": stats["batch_mean"][g]} | ({"batch_var": stats["batch_var"][g]} if p else {})
        out = {"momentum": np.float64(self.momentum), "running_mean_before": mean[g],
               "running_mean": stats["running_mean"][g]}
        if p:
            out.update(unbiased_var=stats["unbiased_var"][g], running_var_before=var[g],
                       running_var=stats["running_var"][g])
        return out


@dataclass(frozen=True, eq=False)
class LayerNorm(Norm):
    """Statistics within each sample, over its last axis."""

    type: str = field(init=False, default="layernorm")
    axis_name = "sample"
    affine_axis = -1

    def group_count(self, shape: tuple[int, ...]) -> int:
        return int(np.prod(shape[:-1], dtype=np.int64))

    def matrix(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, x.shape[-1])

    def unmatrix(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return m.reshape(shape)


@dataclass(frozen=True, eq=False)
class RMSNorm(LayerNorm):
    """LayerNorm's rows without the mean: y = gamma * x / sqrt(mean(x^2) + eps), as torch.nn.RMSNorm."""

    type: str = field(init=False, default="rmsnorm")
    phases = ("mean of squares", "rms", "normalise", "scale")
    stats = ("ms", "rms")
    results = {"mean of squares": "ms", "rms": "rms", "normalise": "x_hat", "scale": "y"}
    eps: float = 1e-6

    def formula(self, phase: str) -> str:
        return {"mean of squares": "ms = (1/m) * sum(x^2)", "rms": "rms = sqrt(ms + eps)",
                "normalise": "x_hat = x / rms   (no mean is subtracted)", "scale": "y = gamma * x_hat"}[phase]

    def params(self) -> list[Param]:
        return [Param("gamma", self.gamma)] if self.gamma is not None else []

    def statistics(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        m = self.matrix(x)
        ms = (m * m).mean(axis=1)
        rms = np.sqrt(ms + self.eps)
        x_hat = m / rms[:, None]
        gamma, _ = self.affine(x.shape)
        return {"x": m, "ms": ms, "rms": rms, "x_hat": x_hat, "y": gamma * x_hat, "gamma": gamma}


class NormTrace(Trace):
    """All of the first statistic, then all of the second, then normalising and scaling, one group at a time."""

    layer: Norm

    def __init__(self, layer: Norm, x: np.ndarray) -> None:
        stats = {k: frozen(v) for k, v in layer.statistics(x).items()}
        self.stats = stats
        self.first, self.second = (stats[name] for name in layer.stats)
        self.mean, self.var = stats.get("mean"), stats.get("var")
        self.group_total = len(self.first)
        self.stat_shape = layer.stat_shape(x.shape)
        super().__init__(layer, x, layer.unmatrix(stats["y"], x.shape), len(layer.phases) * self.group_total)

    def unit_of(self, k: int) -> int:
        return k // self.group_total

    def unit_start(self, unit: int) -> int:
        return unit * self.group_total

    def filled(self, done: int) -> np.ndarray:
        rows = np.zeros(self.stats["y"].shape, dtype=bool)
        rows[: done // rows.shape[1]] = True
        return self.layer.unmatrix(rows, self.input.shape)

    def members(self, g: int) -> np.ndarray:
        """Which input elements statistic ``g`` is taken over, as a mask of the input's shape."""
        rows = np.zeros(self.stats["y"].shape, dtype=bool)
        rows[g] = True
        return self.layer.unmatrix(rows, self.input.shape)

    def step(self, k: int) -> Step:
        layer, s = self.layer, self.stats
        p, g = divmod(k, self.group_total)
        phase = layer.phases[p]
        first, second = layer.stats
        values = {"x": s["x"][g], first: s[first][g]}
        if p >= 1:
            values[second] = s[second][g]
            values["eps"] = np.float64(layer.eps)
        if p >= 2:
            values["x_hat"] = s["x_hat"][g]
        if p >= 3:
            values.update({k: s[k][g] for k in ("gamma", "beta") if k in s}, y=s["y"][g])
        values.update(layer.extras(s, p, g))
        members = s["x"].shape[1]
        return Step(
            index=k,
            phase=phase,
            unit=p,
            formula=layer.formula(phase),
            highlight={"group": g, "axis": layer.axis_name, "known": g + 1 if p == 0 else self.group_total,
                       **layer.locate(g, self.input.shape)},
            values=values,
            output=self.output,
            done=(g + 1) * members if p == 3 else 0,
            result=layer.results[phase],
            note=layer.note_for(k),
        )
