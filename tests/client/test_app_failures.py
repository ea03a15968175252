"""Issue 13: every failure of the user's app is an abstention for that round, never a crash.

Each broken app below runs as one silo of a real deployment (the driver and agents on the
loopback links, every mode); the round completes without it, the reason reaches the server's
round record and both audit logs, and the silo takes part again the next round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.simulation.loopback import LoopbackConfig, run_loopback

DIM = 5
NAMES = ("a", "b", "c", "d")


class App:
    """Adds 0.1 to every weight; ``broken(weights)`` replaces the result in round 1 only."""

    def __init__(self, broken: Callable[[Any], Any] | None = None) -> None:
        self.broken, self.rounds = broken, 0

    def get_weights(self) -> Any:
        return np.zeros(DIM)

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        self.rounds += 1
        if self.broken is not None and self.rounds == 1:
            return self.broken(weights), 1, {}
        return weights + 0.1, 1, {}

    def evaluate(self, weights: Any, config: Mapping[str, Any]) -> tuple[float, int, Any]:
        return 0.5, 1, {"accuracy": 0.5}


def _raise(weights: Any) -> Any:
    raise RuntimeError("CUDA out of memory")


BROKEN = {
    "raises": (_raise, "RuntimeError: CUDA out of memory"),
    "one-short": (lambda w: np.zeros(DIM - 1), f"returned {DIM - 1} weights; the model has {DIM}"),
    "strings": (lambda w: ["x"] * DIM, "not an array of numbers"),
    "nan": (lambda w: np.full(DIM, np.nan), "NaN or infinite"),
    "none": (lambda w: None, "returned no weights"),
}


@pytest.mark.parametrize("aggregation", ["masking", "none"])
@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_app_abstains_and_the_round_completes(
    tmp_path: Path, kind: str, aggregation: str
) -> None:
    broken, why = BROKEN[kind]
    apps = {s: App(broken if s == "b" else None) for s in NAMES}
    result = run_loopback(
        apps, np.zeros(DIM), LoopbackConfig(aggregation=aggregation, rounds=2),
        state_dir=tmp_path,
    )  # fmt: skip
    first, second = result.summaries
    assert first.completed and first.survivors == ("a", "c", "d")
    (dropout,) = first.dropouts
    assert dropout["silo"] == "b" and why in dropout["reason"]
    assert second.completed and second.survivors == NAMES  # the silo is still alive
    np.testing.assert_allclose(result.weights, np.full(DIM, 0.2), atol=1e-3)
    for party in ("server", "silos/b"):
        entries = [json.loads(line) for line in (tmp_path / party / "audit.jsonl").open()]
        assert any(
            e["event"] == "dropout" and why in e["details"].get("reason", "") for e in entries
        ), party


class BadMetricsApp(App):
    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, Any]:
        self.rounds += 1
        return weights + 0.1, 1, (None if self.rounds == 1 else {})


def test_malformed_fit_metrics_abstain_too(tmp_path: Path) -> None:
    apps: dict[str, App] = {s: (BadMetricsApp() if s == "b" else App()) for s in NAMES}
    result = run_loopback(apps, np.zeros(DIM), LoopbackConfig(aggregation="none", rounds=2))
    first, second = result.summaries
    assert first.completed and [d["silo"] for d in first.dropouts] == ["b"]
    assert "metrics are malformed" in first.dropouts[0]["reason"]
    assert second.survivors == NAMES
