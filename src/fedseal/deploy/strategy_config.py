"""The ``[strategy]`` table of ``server.toml``: which federated optimiser the server runs.

Validated here, built by :func:`fedseal.server.strategy.build_strategy`. Standard library only,
so that loading a config file never imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedseal.errors import ConfigError

__all__ = ["STRATEGIES", "StrategySettings"]

#: Strategy names, and the server learning rate each uses when none is given.
STRATEGIES: dict[str, float] = {
    "fedavg": 1.0,
    "fedprox": 1.0,
    "fedadagrad": 0.1,
    "fedadam": 0.1,
    "fedyogi": 0.1,
}


def _number(name: str, value: object, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class StrategySettings:
    """The server's federated optimiser and what it asks silos each round.

    Parameters
    ----------
    name : {"fedavg", "fedprox", "fedadagrad", "fedadam", "fedyogi"}
        FedAvg (McMahan et al. 2017); FedProx (Li et al. 2020); the adaptive server optimizers
        of Reddi et al. 2021.
    server_lr : float, optional
        Server step size η; default 1.0 for FedAvg/FedProx, 0.1 for the adaptive ones.
    proximal_mu : float
        FedProx's μ (sent to silos as ``proximal_mu``); only with ``name = "fedprox"``.
    beta1, beta2, tau : float
        Adaptive optimizers' moment decay rates and degree of adaptivity (defaults 0.9, 0.99,
        1e-3, as in Reddi et al.).
    silo_lr : float, optional
        Sent to silos as ``lr`` every round (their local SGD step size); unset: each silo's own.
    local_epochs : int, optional
        Sent to silos as ``local_epochs``. Silos under DP ignore it: their steps per round are
        a privacy setting and come from their own config only.

    Raises
    ------
    ConfigError
        Naming the parameter, for any value out of range.
    """

    name: str = "fedavg"
    server_lr: float | None = None
    proximal_mu: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    silo_lr: float | None = None
    local_epochs: int | None = None

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ConfigError(f"name must be one of {', '.join(STRATEGIES)}, got {self.name!r}")
        lr = STRATEGIES[self.name] if self.server_lr is None else self.server_lr
        if _number("server_lr", lr, low=0.0) == 0.0:
            raise ConfigError("server_lr must be > 0")
        object.__setattr__(self, "server_lr", float(lr))
        _number("proximal_mu", self.proximal_mu, low=0.0)
        if self.proximal_mu and self.name != "fedprox":
            raise ConfigError("proximal_mu is only used with name = 'fedprox'")
        _number("beta1", self.beta1, low=0.0, high=1.0)
        _number("beta2", self.beta2, low=0.0, high=1.0)
        if _number("tau", self.tau, low=0.0) == 0.0:
            raise ConfigError("tau must be > 0")
        if self.silo_lr is not None and _number("silo_lr", self.silo_lr, low=0.0) == 0.0:
            raise ConfigError("silo_lr must be > 0")
        epochs = self.local_epochs
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)):
            raise ConfigError(f"local_epochs must be an integer, got {epochs!r}")
        if epochs is not None and epochs < 1:
            raise ConfigError(f"local_epochs must be >= 1, got {epochs!r}")

    def round_config(self) -> dict[str, float]:
        """What every silo receives each round besides FedProx's μ (``lr``, ``local_epochs``)."""
        config: dict[str, float] = {}
        if self.silo_lr is not None:
            config["lr"] = float(self.silo_lr)
        if self.local_epochs is not None:
            config["local_epochs"] = float(self.local_epochs)
        return config
