"""Shared fixtures for the fedseal.dp tests: the demo's data and small trainers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled breast-cancer data, standardised (569 x 30, labels 0/1)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(x).astype(np.float32), y.astype(np.int64)


@pytest.fixture
def make_trainer(tmp_path: Path, cancer: tuple[np.ndarray, np.ndarray]) -> Callable[..., Any]:
    """Build a PrivateTrainer on a slice of the data with a fresh or existing ledger."""
    import torch
    from dp_helpers import seeded_key_source

    from fedseal.dp import DPConfig, PrivacyLedger, PrivateTrainer
    from fedseal.dp.noise import SecureRandom

    def build(
        state: Path | None = None,
        *,
        n: int = 200,
        silo: str = "a",
        seed: bytes = b"t",
        **overrides: Any,
    ) -> Any:
        cfg = {"epsilon_budget": 8.0, "noise_multiplier": 1.2, "delta": 1e-5}
        trainer_kw = {
            k: overrides.pop(k)
            for k in ("batch_size", "steps_per_round", "local_epochs", "learning_rate", "rng")
            if k in overrides
        }
        cfg.update(overrides)
        config = DPConfig(**cfg)  # type: ignore[arg-type]
        ledger = PrivacyLedger.open(state or tmp_path / silo, silo=silo, config=config)
        torch.manual_seed(0)
        x, y = cancer
        kw: dict[str, Any] = {"batch_size": 20, "steps_per_round": 5, "learning_rate": 0.5}
        kw.update(trainer_kw)
        if "rng" not in kw and config.secure_rng:
            kw["rng"] = SecureRandom(seeded_key_source(seed))
        return PrivateTrainer(
            lambda: torch.nn.Linear(30, 2), x[:n], y[:n], config=config, ledger=ledger, **kw
        )

    return build
