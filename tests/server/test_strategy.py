"""Strategies act on the decoded sum only: FedAvg, FedProx and the adaptive server optimizers
(Reddi et al. 2021, Algorithm 2), their round config, and their state across a restart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fedseal.config.strategy import StrategySettings
from fedseal.errors import ConfigError
from fedseal.secagg.quantize import DecodedSum
from fedseal.server.optimizers import FedAdagrad, FedAdam, FedYogi
from fedseal.server.state import ServerState
from fedseal.server.strategy import FedAvg, FedProx, Strategy, build_strategy

X0 = np.array([0.5, -1.0, 2.0])
DELTA = np.array([0.2, -0.05, 0.0])


def _decoded(mean: np.ndarray, metrics: np.ndarray | None = None) -> DecodedSum:
    return DecodedSum(mean=mean, total_weight=3, metrics=metrics)


def test_fedavg_moves_by_the_mean_and_sends_its_round_config() -> None:
    s = FedAvg(X0, server_lr=0.5, round_config={"lr": 0.1})
    assert s.configure_round(1) == {"lr": 0.1} and s.configure_round(2) == {"lr": 0.1}
    m = s.aggregate(_decoded(DELTA, np.array([0.4, 0.9])))
    np.testing.assert_array_equal(s.weights, X0 + 0.5 * DELTA)
    assert (m.total_weight, m.loss, m.accuracy) == (3, 0.4, 0.9)
    assert s.aggregate(_decoded(DELTA)).loss is None  # DP silos send no metrics
    assert s.state() == {} and isinstance(s, Strategy)


def test_fedprox_sends_mu_and_aggregates_like_fedavg() -> None:
    s = FedProx(X0, proximal_mu=0.01, round_config={"lr": 0.2})
    assert s.configure_round(7) == {"lr": 0.2, "proximal_mu": 0.01}
    s.aggregate(_decoded(DELTA))
    np.testing.assert_array_equal(s.weights, X0 + DELTA)
    with pytest.raises(ConfigError, match="proximal_mu"):
        FedProx(X0, proximal_mu=-1.0)


def _by_hand(kind: str, eta: float, b1: float, b2: float, tau: float) -> np.ndarray:
    """Two steps of Reddi et al. Algorithm 2 written out element by element."""
    out = []
    for x, d in zip(X0, DELTA, strict=True):
        m, v = 0.0, tau * tau
        for _ in range(2):
            m = b1 * m + (1 - b1) * d
            if kind == "adagrad":
                v = v + d * d
            elif kind == "adam":
                v = b2 * v + (1 - b2) * d * d
            else:
                v = v - (1 - b2) * d * d * math.copysign(1.0, v - d * d) * (v != d * d)
            x = x + eta * m / (math.sqrt(v) + tau)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize(
    ("cls", "kind"), [(FedAdagrad, "adagrad"), (FedAdam, "adam"), (FedYogi, "yogi")]
)
def test_adaptive_optimizers_follow_the_paper(cls: type, kind: str) -> None:
    s = cls(X0, server_lr=0.3, beta1=0.8, beta2=0.95, tau=0.01)
    for _ in range(2):
        s.aggregate(_decoded(DELTA))
    np.testing.assert_allclose(s.weights, _by_hand(kind, 0.3, 0.8, 0.95, 0.01), rtol=1e-12)


def test_adaptive_step_is_bounded_by_the_learning_rate() -> None:
    # |m| / (sqrt(v) + tau) <= 1 for Adam's first step: huge updates cannot blow the model up.
    s = FedAdam(X0, server_lr=0.1)
    s.aggregate(_decoded(np.array([1e6, -1e6, 0.0])))
    assert np.all(np.abs(s.weights - X0) <= 0.1 + 1e-12)


def test_optimizer_state_survives_a_restart(tmp_path: Path) -> None:
    a = FedYogi(X0)
    state = ServerState(tmp_path, deployment_id="d")
    state.begin_round()
    a.aggregate(_decoded(DELTA))
    state.finish_round(a.weights, a.state())
    again = ServerState(tmp_path, deployment_id="d")
    b = FedYogi(again.load_model())  # type: ignore[arg-type]
    b.load_state(again.strategy_state())
    for s in (a, b):
        s.aggregate(_decoded(DELTA))
    np.testing.assert_array_equal(a.weights, b.weights)


def test_stale_optimizer_state_is_not_loaded(tmp_path: Path) -> None:
    state = ServerState(tmp_path, deployment_id="d")
    s = FedAdam(X0)
    s.aggregate(_decoded(DELTA))
    state.finish_round(s.weights, s.state())
    state.finish_round(s.weights)  # a later round finished without state (strategy changed)
    assert ServerState(tmp_path, deployment_id="d").strategy_state() == {}


def test_state_of_another_shape_or_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not fit"):
        FedAdam(X0).load_state({"m": np.zeros(2), "v": np.zeros(2)})
    with pytest.raises(ConfigError, match="m and v"):
        FedAdam(X0).load_state({"m": np.zeros(3)})
    with pytest.raises(ConfigError, match="keeps no state"):
        FedAvg(X0).load_state({"m": np.zeros(3), "v": np.zeros(3)})


@pytest.mark.parametrize(
    ("settings", "cls", "config"),
    [
        (StrategySettings(), FedAvg, {}),
        (StrategySettings(name="fedprox", proximal_mu=0.1, silo_lr=0.3), FedProx,
         {"lr": 0.3, "proximal_mu": 0.1}),
        (StrategySettings(name="fedadam", local_epochs=2), FedAdam, {"local_epochs": 2.0}),
        (StrategySettings(name="fedyogi"), FedYogi, {}),
        (StrategySettings(name="fedadagrad"), FedAdagrad, {}),
    ],
)  # fmt: skip
def test_build_strategy(settings: StrategySettings, cls: type, config: dict[str, float]) -> None:
    s = build_strategy(settings, X0)
    assert type(s) is cls and s.configure_round(1) == config
    assert s.server_lr == (1.0 if cls in (FedAvg, FedProx) else 0.1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "fedsgd"}, "name must be one of"),
        ({"server_lr": 0}, "server_lr must be > 0"),
        ({"proximal_mu": 0.1}, "only used with name = 'fedprox'"),
        ({"name": "fedprox", "proximal_mu": -1}, "proximal_mu must be >= 0"),
        ({"beta1": 1.0}, r"beta1 must be in \[0, 1\)"),
        ({"tau": 0}, "tau must be > 0"),
        ({"silo_lr": float("nan")}, "silo_lr must be a finite number"),
        ({"local_epochs": 0}, "local_epochs must be >= 1"),
        ({"local_epochs": 1.5}, "local_epochs must be an integer"),
    ],
)
def test_bad_strategy_settings_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StrategySettings(**kwargs)  # type: ignore[arg-type]
