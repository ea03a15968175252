"""The loopback deployment: the real driver and silo agents on one event loop, no transport.

Every aggregation mode, dropouts the round recovers from, and an adaptive strategy, each
checked against the weighted mean of fixed per-silo updates (within the quantization step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.audit.verify import verify_log
from fedseal.client.agent import SiloAgent
from fedseal.config.strategy import StrategySettings
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.secagg.quantize import DecodedSum
from fedseal.server.optimizers import FedAdam
from fedseal.simulation.loopback import Dropout, LoopbackConfig, run_loopback

DIM = 6
NAMES = ("a", "b", "c", "d")
WEIGHTS = {s: 10 + 5 * i for i, s in enumerate(NAMES)}
PAILLIER = {"paillier_bits": 1024, "paillier_allow_insecure_bits": True}
STEP = 2.0 / (2**16 - 1)  # the default quantization: clip 1, 16 bits


class FixedApp:
    """Sends the update ``u`` every round; reports accuracy 0.75; keeps every round's config."""

    def __init__(self, u: np.ndarray[Any, Any]) -> None:
        self.u = u
        self.configs: list[dict[str, Any]] = []

    def get_weights(self) -> np.ndarray[Any, Any]:
        return np.zeros(DIM)

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        self.configs.append(dict(config))
        return weights + self.u, 1, {}

    def evaluate(
        self, weights: Any, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        return 0.5, 1, {"accuracy": 0.75}


def _apps() -> dict[str, FixedApp]:
    rng = np.random.default_rng(7)
    return {s: FixedApp(rng.uniform(-0.5, 0.5, DIM)) for s in NAMES}


def _mean(apps: Mapping[str, FixedApp], silos: tuple[str, ...]) -> np.ndarray[Any, Any]:
    return sum(WEIGHTS[s] * apps[s].u for s in silos) / sum(WEIGHTS[s] for s in silos)


def _config(aggregation: str, **options: Any) -> LoopbackConfig:
    settings = {"rounds": 2, "fedavg_weights": WEIGHTS, **options}
    if aggregation == "paillier":
        settings = {**PAILLIER, **settings}
    return LoopbackConfig(aggregation=aggregation, **settings)


@pytest.mark.parametrize("aggregation", ["masking", "paillier", "none"])
def test_rounds_complete_and_move_the_model_by_the_weighted_mean(
    tmp_path: Path, aggregation: str
) -> None:
    apps = _apps()
    seen: list[tuple[int, np.ndarray[Any, Any]]] = []
    result = run_loopback(
        apps, np.zeros(DIM), _config(aggregation), state_dir=tmp_path,
        on_round=lambda summary, weights: seen.append((summary.round_id, weights)),
    )  # fmt: skip
    mean = _mean(apps, NAMES)
    assert [s.completed for s in result.summaries] == [True, True]
    assert all(s.survivors == NAMES and s.dropouts == [] for s in result.summaries)
    np.testing.assert_allclose(result.weights, 2 * mean, atol=2 * 4 * STEP)
    assert [r for r, _ in seen] == [1, 2]
    np.testing.assert_allclose(seen[0][1], mean, atol=4 * STEP)
    metrics = result.summaries[0].metrics  # the silos' evaluation, inside the aggregate
    assert metrics is not None and metrics.accuracy == pytest.approx(0.75, abs=0.01)
    # Real parties, real state: the server's model file, each silo's last round, audit logs.
    stored = np.load(tmp_path / "server" / "model.npy", allow_pickle=False)
    np.testing.assert_array_equal(stored, result.weights)
    for s in NAMES:
        state = json.loads((tmp_path / "silos" / s / "silo-state.json").read_text())
        assert state["last_round"] == 2
    report = verify_log(tmp_path / "server" / "audit.jsonl")
    assert report.ok and report.cosignatures == 2 * len(NAMES)


@pytest.mark.parametrize(
    ("aggregation", "on", "counted"),
    [
        ("masking", m.ShareDelivery, False),  # after its shares: its masks are recovered
        ("paillier", c.DecryptRequest, True),  # before decrypting: the others decrypt
        ("none", c.TrainRequest, False),
    ],
)
def test_a_silo_that_drops_is_recovered_and_rejoins(
    aggregation: str, on: type, counted: bool
) -> None:
    apps, victim = _apps(), "b"
    config = _config(aggregation, dropouts=(Dropout(victim, 1, on),))
    result = run_loopback(apps, np.zeros(DIM), config)
    first, second = result.summaries
    assert first.completed, first.reason
    assert [d["silo"] for d in first.dropouts] == [victim]
    assert (victim in first.survivors) is counted
    survivors = NAMES if counted else tuple(s for s in NAMES if s != victim)
    assert first.survivors == survivors
    assert second.completed and second.survivors == NAMES  # it reconnected
    expected = _mean(apps, survivors) + _mean(apps, NAMES)
    np.testing.assert_allclose(result.weights, expected, atol=2 * 4 * STEP)


def test_a_silo_that_stays_away_leaves_the_later_rounds() -> None:
    apps, victim = _apps(), "d"
    config = _config(
        "masking", connect_timeout_s=0.2,
        dropouts=(Dropout(victim, 1, m.KeyDirectory, rejoin=False),),
    )  # fmt: skip
    first, second = run_loopback(apps, np.zeros(DIM), config).summaries
    assert first.completed and first.survivors == ("a", "b", "c")
    assert second.completed and second.participants == ("a", "b", "c")


def test_a_silo_whose_agent_raises_is_a_dropout(monkeypatch: pytest.MonkeyPatch) -> None:
    handle = SiloAgent.handle

    def crashing(self: SiloAgent, message: Any) -> Any:
        if self.silo == "c" and isinstance(message, c.TrainRequest):
            raise RuntimeError("the silo process dies")
        return handle(self, message)

    monkeypatch.setattr(SiloAgent, "handle", crashing)
    config = _config("none", rounds=1, connect_timeout_s=0.2)
    (summary,) = run_loopback(_apps(), np.zeros(DIM), config).summaries
    assert summary.completed and summary.survivors == ("a", "b", "d")
    assert summary.dropouts == [{"silo": "c", "stage": "train", "reason": "disconnected"}]


def test_an_adaptive_strategy_moves_the_model_as_it_would_on_the_exact_mean() -> None:
    apps = _apps()
    settings = StrategySettings(name="fedadam", silo_lr=0.05, local_epochs=3)
    result = run_loopback(apps, np.zeros(DIM), _config("masking", rounds=3, strategy=settings))
    assert all(s.completed for s in result.summaries)
    replay = FedAdam(np.zeros(DIM), server_lr=0.1, round_config={"lr": 0.05, "local_epochs": 3})
    for _ in range(3):
        replay.aggregate(DecodedSum(_mean(apps, NAMES), sum(WEIGHTS.values()), None))
    np.testing.assert_allclose(result.weights, replay.weights, atol=1e-3)
    assert apps["a"].configs[0] == {"round": 1, "lr": 0.05, "local_epochs": 3.0}


def test_small_paillier_keys_need_the_insecure_flag_and_bad_setups_are_refused(
    tmp_path: Path,
) -> None:
    apps = _apps()
    with pytest.raises(ConfigError, match="paillier_bits must be 2048 or 3072"):
        run_loopback(apps, np.zeros(DIM), _config("paillier", paillier_allow_insecure_bits=False))
    with pytest.raises(ConfigError, match="at least 2 silos"):
        run_loopback(apps, np.zeros(DIM), _config("none", dropouts=(Dropout("x", 1, object),)))
    (tmp_path / "leftover").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        run_loopback(apps, np.zeros(DIM), _config("none"), state_dir=tmp_path)
    with pytest.raises(ConfigError):
        LoopbackConfig(rounds=1, aggregation="rot13")
