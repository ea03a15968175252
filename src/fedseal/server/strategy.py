"""Strategies: what the server asks of silos each round and how the decoded sum moves the model.

The server never sees one silo's update: it receives only the decoded sum of every survivor's
``[w*update, w, v, v*metrics]`` (:meth:`fedseal.secagg.quantize.QuantizationSpec.decode_sum`).
A :class:`Strategy` therefore acts on that sum alone, which is why every strategy works
unchanged in every aggregation mode (masking, Paillier, none):

* :meth:`Strategy.configure_round` returns the per-round config sent to every silo inside the
  ``TrainRequest`` (bound into the round digest every silo signs), e.g. ``lr`` or FedProx's
  ``proximal_mu``. Silos never take privacy parameters from it (``docs/privacy.md``).
* :meth:`Strategy.aggregate` moves the global model by the decoded weighted mean update.

Implemented here: FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks
from Decentralized Data", AISTATS 2017) and FedProx (Li et al., "Federated Optimization in
Heterogeneous Networks", MLSys 2020), whose server side is FedAvg's and whose proximal term
``μ/2·|w - w_global|²`` is added by the silo. The adaptive server optimizers FedAdagrad, FedAdam
and FedYogi are in :mod:`fedseal.server.optimizers`; :func:`build_strategy` makes any of them
from a ``[strategy]`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fedseal.config.strategy import STRATEGIES, StrategySettings
from fedseal.errors import ConfigError
from fedseal.secagg.quantize import DecodedSum

__all__ = [
    "METRIC_NAMES",
    "FedAvg",
    "FedProx",
    "RoundConfig",
    "RoundMetrics",
    "Strategy",
    "build_strategy",
]

#: The metrics every silo encodes, in order, inside its masked vector.
METRIC_NAMES = ("loss", "accuracy")

#: The per-round config sent to silos: names to numbers (the wire carries doubles).
RoundConfig = dict[str, float]


@dataclass(frozen=True)
class RoundMetrics:
    """What the server learns from one round besides the new model."""

    total_weight: int
    loss: float | None  # None: no silo sent metrics (silos under DP send none)
    accuracy: float | None


@runtime_checkable
class Strategy(Protocol):
    """The server side of a federated optimisation algorithm (see the module docstring)."""

    weights: npt.NDArray[np.float64]

    @property
    def dim(self) -> int:
        """Number of model parameters."""

    def configure_round(self, round_id: int) -> RoundConfig:
        """The config every silo receives for round ``round_id``."""

    def aggregate(self, decoded: DecodedSum) -> RoundMetrics:
        """Move :attr:`weights` by the decoded sum of a completed round; return its metrics."""

    def state(self) -> dict[str, npt.NDArray[np.float64]]:
        """Server-optimizer state to persist beside the model (empty if none)."""

    def load_state(self, arrays: Mapping[str, npt.NDArray[np.float64]]) -> None:
        """Restore what :meth:`state` returned (after a restart)."""


def _metrics(decoded: DecodedSum) -> RoundMetrics:
    if decoded.metrics is None:
        return RoundMetrics(decoded.total_weight, None, None)
    loss, accuracy = (float(v) for v in decoded.metrics[: len(METRIC_NAMES)])
    return RoundMetrics(decoded.total_weight, loss, accuracy)


class FedAvg:
    """Federated averaging: the model moves by ``server_lr`` times the weighted mean update.

    Parameters
    ----------
    initial : ndarray of float64
        The global model before round 1 (flattened).
    server_lr : float
        Step size applied to the mean update (1.0 is plain FedAvg).
    round_config : mapping of str to float, optional
        Sent to every silo every round (e.g. ``{"lr": 0.1}``); finite numbers only.
    """

    def __init__(
        self,
        initial: npt.NDArray[np.float64],
        *,
        server_lr: float = 1.0,
        round_config: Mapping[str, float] | None = None,
    ) -> None:
        if initial.ndim != 1 or not np.all(np.isfinite(initial)):
            raise ConfigError("the initial model must be a finite 1-D float vector")
        if not server_lr > 0:
            raise ConfigError(f"server_lr must be > 0, got {server_lr}")
        self.weights = np.array(initial, dtype=np.float64)
        self.server_lr = server_lr
        self._round_config: RoundConfig = {}
        for key, value in (round_config or {}).items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"round config {key!r} must be a number, got {value!r}")
            if not np.isfinite(value):
                raise ConfigError(f"round config {key!r} must be finite, got {value!r}")
            self._round_config[str(key)] = float(value)

    @property
    def dim(self) -> int:
        """Number of model parameters."""
        return int(self.weights.size)

    def configure_round(self, round_id: int) -> RoundConfig:
        """The configured ``round_config`` (the same every round)."""
        return dict(self._round_config)

    def _mean(self, decoded: DecodedSum) -> npt.NDArray[np.float64]:
        if decoded.mean.shape != self.weights.shape:
            raise ConfigError(
                f"aggregate has {decoded.mean.size} values, the model {self.weights.size}"
            )
        return np.asarray(decoded.mean, dtype=np.float64)

    def aggregate(self, decoded: DecodedSum) -> RoundMetrics:
        """Move the global model by the decoded mean update; return the round's metrics."""
        self.weights = self.weights + self.server_lr * self._mean(decoded)
        return _metrics(decoded)

    def state(self) -> dict[str, npt.NDArray[np.float64]]:
        """FedAvg keeps no state beyond the model."""
        return {}

    def load_state(self, arrays: Mapping[str, npt.NDArray[np.float64]]) -> None:
        """Nothing to restore; any stored arrays are refused as a sign of a changed strategy."""
        if arrays:
            raise ConfigError(f"this strategy keeps no state, but found {sorted(arrays)}")


class FedProx(FedAvg):
    """FedProx: FedAvg on the server; each silo adds ``μ/2·|w - w_global|²`` to its loss.

    The silo receives ``proximal_mu`` in every round's config. Under DP-SGD the proximal
    gradient ``μ·(w - w_global)`` is added after clipping and noise: it does not depend on the
    data, so the privacy guarantee is unchanged.

    Parameters
    ----------
    initial : ndarray of float64
    proximal_mu : float
        μ ≥ 0 (0 is FedAvg).
    server_lr : float
    round_config : mapping of str to float, optional
    """

    def __init__(
        self,
        initial: npt.NDArray[np.float64],
        *,
        proximal_mu: float,
        server_lr: float = 1.0,
        round_config: Mapping[str, float] | None = None,
    ) -> None:
        if not (np.isfinite(proximal_mu) and proximal_mu >= 0):
            raise ConfigError(f"proximal_mu must be a finite number >= 0, got {proximal_mu}")
        config = {**(round_config or {}), "proximal_mu": float(proximal_mu)}
        super().__init__(initial, server_lr=server_lr, round_config=config)
        self.proximal_mu = float(proximal_mu)


def build_strategy(settings: StrategySettings, initial: npt.NDArray[np.float64]) -> Strategy:
    """The strategy ``settings`` names, starting from ``initial``."""
    from fedseal.server.optimizers import FedAdagrad, FedAdam, FedYogi

    config = settings.round_config()
    lr = settings.server_lr if settings.server_lr is not None else STRATEGIES[settings.name]
    if settings.name == "fedavg":
        return FedAvg(initial, server_lr=lr, round_config=config)
    if settings.name == "fedprox":
        return FedProx(
            initial,
            proximal_mu=settings.proximal_mu,
            server_lr=lr,
            round_config=config,
        )
    adaptive = {"fedadagrad": FedAdagrad, "fedadam": FedAdam, "fedyogi": FedYogi}
    return adaptive[settings.name](
        initial,
        server_lr=lr,
        beta1=settings.beta1,
        beta2=settings.beta2,
        tau=settings.tau,
        round_config=config,
    )
