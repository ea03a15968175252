"""Adaptive server optimizers over the decoded mean update: FedAdagrad, FedAdam, FedYogi.

Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2. The weighted mean of
the silos' updates, ``Δ_t`` (all the server learns, from the secure sum), is a pseudo-gradient:

    m_t = β1·m_{t-1} + (1 - β1)·Δ_t
    v_t = v_{t-1} + Δ_t²                                   (FedAdagrad)
    v_t = β2·v_{t-1} + (1 - β2)·Δ_t²                        (FedAdam)
    v_t = v_{t-1} - (1 - β2)·Δ_t²·sign(v_{t-1} - Δ_t²)       (FedYogi)
    x_{t+1} = x_t + η·m_t / (√v_t + τ)

with ``m_{-1} = 0`` and ``v_{-1} = τ²`` (the paper asks ``v_{-1} ≥ τ²``), no bias correction,
as in the paper. ``m`` and ``v`` are the strategy's state: the server persists them with the
model after every round, so a restart continues the same optimisation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.secagg.quantize import DecodedSum
from fedseal.server.strategy import FedAvg, RoundMetrics, _metrics

__all__ = ["FedAdagrad", "FedAdam", "FedYogi"]

Array = npt.NDArray[np.float64]


class _FedOpt(FedAvg):
    """Shared state and step of the three optimizers; subclasses give the ``v`` update."""

    def __init__(
        self,
        initial: Array,
        *,
        server_lr: float = 0.1,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 1e-3,
        round_config: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(initial, server_lr=server_lr, round_config=round_config)
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        if not (np.isfinite(tau) and tau > 0):
            raise ConfigError(f"tau must be a finite number > 0, got {tau}")
        self.beta1, self.beta2, self.tau = float(beta1), float(beta2), float(tau)
        self.m: Array = np.zeros_like(self.weights)
        self.v: Array = np.full_like(self.weights, self.tau**2)

    def _second_moment(self, delta: Array) -> Array:
        raise NotImplementedError

    def aggregate(self, decoded: DecodedSum) -> RoundMetrics:
        """One server-optimizer step on the decoded mean update."""
        delta = self._mean(decoded)
        self.m = self.beta1 * self.m + (1.0 - self.beta1) * delta
        self.v = self._second_moment(delta)
        self.weights = self.weights + self.server_lr * self.m / (np.sqrt(self.v) + self.tau)
        return _metrics(decoded)

    def state(self) -> dict[str, Array]:
        """The first and second moments ``m`` and ``v``."""
        return {"m": self.m.copy(), "v": self.v.copy()}

    def load_state(self, arrays: Mapping[str, Array]) -> None:
        """Restore ``m`` and ``v`` (nothing given: keep the fresh ``m = 0, v = τ²``).

        Refuses arrays of another shape, with NaN/inf, or a negative ``v``.
        """
        if not arrays:
            return
        if set(arrays) != {"m", "v"}:
            raise ConfigError(f"optimizer state needs exactly m and v, got {sorted(arrays)}")
        for name in ("m", "v"):
            a = np.asarray(arrays[name], dtype=np.float64)
            if a.shape != self.weights.shape or not np.all(np.isfinite(a)):
                raise ConfigError(f"optimizer state {name} does not fit this model")
        if np.any(np.asarray(arrays["v"]) < 0):
            raise ConfigError("optimizer state v must be >= 0")
        self.m = np.array(arrays["m"], dtype=np.float64)
        self.v = np.array(arrays["v"], dtype=np.float64)


class FedAdagrad(_FedOpt):
    """FedAdagrad: ``v`` accumulates every squared update (``beta2`` is unused)."""

    def _second_moment(self, delta: Array) -> Array:
        return self.v + delta * delta


class FedAdam(_FedOpt):
    """FedAdam: ``v`` is an exponential average of squared updates."""

    def _second_moment(self, delta: Array) -> Array:
        return self.beta2 * self.v + (1.0 - self.beta2) * delta * delta


class FedYogi(_FedOpt):
    """FedYogi: ``v`` moves towards ``Δ²`` by a fixed fraction, additively (Zaheer et al. 2018)."""

    def _second_moment(self, delta: Array) -> Array:
        sq = delta * delta
        return self.v - (1.0 - self.beta2) * sq * np.sign(self.v - sq)
