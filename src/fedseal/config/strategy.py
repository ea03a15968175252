"""The ``[strategy]`` table of ``server.toml``: which federated optimiser the server runs.

Its schema table is :data:`STRATEGY`; validated into :class:`StrategySettings` here, built by
:func:`fedseal.server.strategy.build_strategy`. Standard library only, so that loading a
config file never imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedseal.config.schema import INT, NUMBER, STR, Check, Option, Table
from fedseal.errors import ConfigError

__all__ = ["STRATEGIES", "STRATEGY", "StrategySettings"]

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


def _name(name: str, value: object) -> str:
    if not isinstance(value, str) or value not in STRATEGIES:
        raise ConfigError(f"{name} must be one of {', '.join(STRATEGIES)}, got {value!r}")
    return value


def _rate(*, high: float | None = None, positive: bool = False) -> Check:
    """A finite number in ``[0, high)``; with ``positive``, also ``> 0``."""

    def check(name: str, value: object) -> object:
        if _number(name, value, low=0.0, high=high) == 0.0 and positive:
            raise ConfigError(f"{name} must be > 0")
        return value

    return check


def _epochs(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{name} must be >= 1, got {value!r}")
    return value


#: ``server.toml [strategy]``. ``fedseal provision`` writes ``name`` only.
STRATEGY = Table(
    (
        Option(key="name", kind=STR, default="fedavg", check=_name),
        Option(key="server_lr", kind=NUMBER, default=None),  # default: STRATEGIES[name]
        Option(key="proximal_mu", kind=NUMBER, default=0.0, check=_rate(), write=False),
        Option(key="beta1", kind=NUMBER, default=0.9, check=_rate(high=1.0), write=False),
        Option(key="beta2", kind=NUMBER, default=0.99, check=_rate(high=1.0), write=False),
        Option(key="tau", kind=NUMBER, default=1e-3, check=_rate(positive=True), write=False),
        Option(key="silo_lr", kind=NUMBER, default=None, check=_rate(positive=True)),
        Option(key="local_epochs", kind=INT, default=None, check=_epochs),
    )
)


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

    name: str = STRATEGY.default("name")
    server_lr: float | None = STRATEGY.default("server_lr")
    proximal_mu: float = STRATEGY.default("proximal_mu")
    beta1: float = STRATEGY.default("beta1")
    beta2: float = STRATEGY.default("beta2")
    tau: float = STRATEGY.default("tau")
    silo_lr: float | None = STRATEGY.default("silo_lr")
    local_epochs: int | None = STRATEGY.default("local_epochs")

    def __post_init__(self) -> None:
        STRATEGY.validate(self)
        lr = STRATEGIES[self.name] if self.server_lr is None else self.server_lr
        if _number("server_lr", lr, low=0.0) == 0.0:
            raise ConfigError("server_lr must be > 0")
        object.__setattr__(self, "server_lr", float(lr))
        if self.proximal_mu and self.name != "fedprox":
            raise ConfigError("proximal_mu is only used with name = 'fedprox'")

    def round_config(self) -> dict[str, float]:
        """What every silo receives each round besides FedProx's μ (``lr``, ``local_epochs``)."""
        config: dict[str, float] = {}
        if self.silo_lr is not None:
            config["lr"] = float(self.silo_lr)
        if self.local_epochs is not None:
            config["local_epochs"] = float(self.local_epochs)
        return config
