"""A silo process for the kill -9 tests: trains rounds forever, printing progress.

Usage: python dp_crash_worker.py STATE_DIR {between|mid}

``between`` sleeps after each finished round (so a kill lands between rounds); ``mid`` makes
every forward pass slow (so a kill lands inside a round, after its ``begun`` row).
"""

from __future__ import annotations

import sys
import time

import torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from fedseal.dp import DPConfig, PrivacyLedger, PrivateTrainer


class Slow(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)
        return x


def main() -> None:
    state, mode = sys.argv[1], sys.argv[2]
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype("float32")
    config = DPConfig(epsilon_budget=1000.0, noise_multiplier=1.0)
    ledger = PrivacyLedger.open(state, silo="crashy", config=config)
    layers = [Slow(), torch.nn.Linear(30, 2)] if mode == "mid" else [torch.nn.Linear(30, 2)]
    trainer = PrivateTrainer(
        torch.nn.Sequential(*layers),
        x,
        y,
        config=config,
        ledger=ledger,
        batch_size=32,
        steps_per_round=10,
    )
    w = trainer.get_weights()
    start = len(ledger.rounds())
    for r in range(start, start + 1000):
        print(f"BEGIN {r}", flush=True)
        w, _, metrics = trainer.fit(w, r, {})
        print(f"DONE {r} {metrics['epsilon']!r}", flush=True)
        if mode == "between":
            time.sleep(5.0)


if __name__ == "__main__":
    main()
