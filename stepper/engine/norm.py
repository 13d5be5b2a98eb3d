"""BatchNorm and LayerNorm: the same four formulas, reduced over different axes.

    mean  = (1/m) sum x          var = (1/m) sum (x - mean)^2   (biased, as PyTorch uses in training)
    x_hat = (x - mean) / sqrt(var + eps)                        y = gamma * x_hat + beta

Both are computed on a (groups, members) matrix: BatchNorm's groups are features (or channels) and
its members the samples of the batch; LayerNorm's groups are samples and its members their features.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stepper.engine.trace import Layer, Param, Step, Trace, frozen

PHASES = ("mean", "var", "normalise", "scale")
FORMULAS = {
    "mean": "mean = (1/m) * sum(x)",
    "var": "var = (1/m) * sum((x - mean)^2)",
    "normalise": "x_hat = (x - mean) / sqrt(var + eps)",
    "scale": "y = gamma * x_hat + beta",
}
RESULTS = {"mean": "mean", "var": "var", "normalise": "x_hat", "scale": "y"}


@dataclass(frozen=True, eq=False)
class Norm(Layer):
    """The four formulas over a (groups, members) matrix; subclasses say what the groups are."""

    keeps_rows = True  # the output has the input's shape
    gamma: np.ndarray | None = None
    beta: np.ndarray | None = None
    eps: float = 1e-5

    def groups(self, x: np.ndarray) -> np.ndarray:
        """x as a (groups, members) matrix."""
        raise NotImplementedError

    def ungroup(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The inverse of ``groups``."""
        raise NotImplementedError

    def affine(self, g: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """gamma and beta broadcast to the (groups, members) matrix."""
        raise NotImplementedError

    def params(self) -> list[Param]:
        return [Param(n, v) for n, v in (("gamma", self.gamma), ("beta", self.beta)) if v is not None]

    def gamma_beta(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """gamma and beta for ``n`` features, 1 and 0 where they were not given."""
        gamma = np.ones(n) if self.gamma is None else np.asarray(self.gamma, dtype=np.float64)
        beta = np.zeros(n) if self.beta is None else np.asarray(self.beta, dtype=np.float64)
        return gamma, beta

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def step_count(self, shape: tuple[int, ...]) -> int:
        return len(PHASES) * self.group_count(shape)

    def group_count(self, shape: tuple[int, ...]) -> int:
        raise NotImplementedError

    def statistics(self, x: np.ndarray) -> dict[str, np.ndarray]:
        m = self.groups(np.asarray(x, dtype=np.float64))
        mean = m.mean(axis=1)
        var = ((m - mean[:, None]) ** 2).mean(axis=1)
        x_hat = (m - mean[:, None]) / np.sqrt(var[:, None] + self.eps)
        gamma, beta = self.affine(*m.shape)
        return {"x": m, "mean": mean, "var": var, "x_hat": x_hat, "y": gamma * x_hat + beta,
                "gamma": gamma, "beta": beta}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.ungroup(self.statistics(x)["y"], x.shape)

    def trace(self, x: np.ndarray) -> NormTrace:
        return NormTrace(self, np.asarray(x, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class BatchNorm(Norm):
    """Statistics per feature (N, F) or per channel (N, C, H, W), across the whole batch."""

    type: str = field(init=False, default="batchnorm")
    axis_name = "feature"

    def group_count(self, shape: tuple[int, ...]) -> int:
        return shape[1]

    def groups(self, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)

    def ungroup(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        moved = (shape[1], shape[0], *shape[2:])
        return np.moveaxis(m.reshape(moved), 0, 1)

    def affine(self, g: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        gamma, beta = self.gamma_beta(g)
        return gamma[:, None] * np.ones((g, m)), beta[:, None] * np.ones((g, m))


@dataclass(frozen=True, eq=False)
class LayerNorm(Norm):
    """Statistics within each sample, over its last axis."""

    type: str = field(init=False, default="layernorm")
    axis_name = "sample"

    def group_count(self, shape: tuple[int, ...]) -> int:
        return int(np.prod(shape[:-1], dtype=np.int64))

    def groups(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, x.shape[-1])

    def ungroup(self, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return m.reshape(shape)

    def affine(self, g: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        gamma, beta = self.gamma_beta(m)
        return gamma[None, :] * np.ones((g, m)), beta[None, :] * np.ones((g, m))


class NormTrace(Trace):
    """All means first, then all variances, then normalising and scaling, one group at a time."""

    layer: Norm

    def __init__(self, layer: Norm, x: np.ndarray) -> None:
        stats = {k: frozen(v) for k, v in layer.statistics(x).items()}
        self.stats = stats
        self.mean, self.var = stats["mean"], stats["var"]
        self.group_total = len(stats["mean"])
        super().__init__(layer, x, layer.ungroup(stats["y"], x.shape), len(PHASES) * self.group_total)

    def unit_of(self, k: int) -> int:
        return k // self.group_total

    def unit_start(self, unit: int) -> int:
        return unit * self.group_total

    def filled(self, done: int) -> np.ndarray:
        rows = np.zeros(self.stats["y"].shape, dtype=bool)
        rows[: done // rows.shape[1]] = True
        return self.layer.ungroup(rows, self.input.shape)

    def step(self, k: int) -> Step:
        p, g = divmod(k, self.group_total)
        phase = PHASES[p]
        s = self.stats
        values = {"x": s["x"][g], "mean": s["mean"][g]}
        if p >= 1:
            values["var"] = s["var"][g]
            values["eps"] = np.float64(self.layer.eps)
        if p >= 2:
            values["x_hat"] = s["x_hat"][g]
        if p >= 3:
            values.update(gamma=s["gamma"][g], beta=s["beta"][g], y=s["y"][g])
        members = s["x"].shape[1]
        return Step(
            index=k,
            phase=phase,
            unit=p,
            formula=FORMULAS[phase],
            highlight={"group": g, "axis": self.layer.axis_name, "known": g + 1 if p == 0 else self.group_total},
            values=values,
            output=self.output,
            done=(g + 1) * members if p == 3 else 0,
            result=RESULTS[phase],
            note=self.layer.note_for(k),
        )
