"""Time per DP-SGD step, fedseal (CSPRNG) vs bare Opacus, and accounting of 10,000 rounds.

Model and data are the demo's: logistic regression ``nn.Linear(30, 2)`` on scikit-learn's
bundled breast-cancer set (standardised), one silo holding all 569 records. Both sides run
Poisson-sampled DP-SGD with the same σ, C, expected batch size and learning rate:

* ``fedseal``: :class:`fedseal.dp.PrivateTrainer` in secure mode (AES-CTR noise and sampling,
  ledger writes and the budget guard included, one round of ``--steps`` steps per repeat);
* ``fedseal_insecure``: the same trainer with ``secure_rng=False`` (isolates the CSPRNG cost);
* ``opacus``: ``PrivacyEngine().make_private(poisson_sampling=True)`` with torch's default
  generator (insecure), iterating its ``DPDataLoader``.

Accounting: a ledger holding ``--history`` rounds is read and ε after a hypothetical next round
is computed, as the budget guard does before every round (targets: ratio ≤ 1.1, ≤ 1 s).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from fedseal.bench.common import Stopwatch, machine_info
from fedseal.extras import require

__all__ = ["add_arguments", "run"]

_SIGMA, _CLIP, _LR = 1.0, 1.0, 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fedseal bench dp``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steps", type=int, default=200, help="DP-SGD steps per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median is reported)")
    parser.add_argument("--batch-size", type=int, default=64, help="expected batch size")
    parser.add_argument("--history", type=int, default=10_000, help="rounds in the ledger")


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(x).astype("float32"), y.astype("int64")


def _fedseal_step_seconds(args: argparse.Namespace, state: Path, *, secure: bool) -> float:
    import torch

    from fedseal.dp import DPConfig, PrivacyLedger, PrivateTrainer

    x, y = _data()
    config = DPConfig(
        epsilon_budget=1e9, noise_multiplier=_SIGMA, max_grad_norm=_CLIP, secure_rng=secure
    )
    ledger = PrivacyLedger.open(state / f"fedseal-{secure}", silo="bench", config=config)
    torch.manual_seed(0)
    trainer = PrivateTrainer(
        torch.nn.Linear(30, 2),
        x,
        y,
        config=config,
        ledger=ledger,
        batch_size=args.batch_size,
        steps_per_round=args.steps,
        learning_rate=_LR,
    )
    weights = trainer.get_weights()
    trainer.fit(weights, 0, {})  # warm-up
    times = []
    for r in range(args.repeats):
        start = time.perf_counter()
        trainer.fit(weights, r + 1, {})
        times.append((time.perf_counter() - start) / args.steps)
    ledger.close()
    return float(statistics.median(times))


def _opacus_step_seconds(args: argparse.Namespace) -> float:
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _data()
    torch.manual_seed(0)
    model = torch.nn.Linear(30, 2)
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = DataLoader(data, batch_size=args.batch_size)
    engine = PrivacyEngine(accountant="rdp")
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=_LR),
        data_loader=loader,
        noise_multiplier=_SIGMA,
        max_grad_norm=_CLIP,
        poisson_sampling=True,
    )
    criterion = torch.nn.CrossEntropyLoss()

    def steps(n: int) -> None:
        done = 0
        while done < n:
            for xb, yb in loader:
                optimizer.zero_grad(set_to_none=True)
                criterion(model(xb), yb).backward()
                optimizer.step()
                done += 1
                if done == n:
                    return

    steps(args.steps)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        steps(args.steps)
        times.append((time.perf_counter() - start) / args.steps)
    return float(statistics.median(times))


def _accounting_seconds(args: argparse.Namespace, state: Path) -> tuple[float, float]:
    from fedseal.dp import DPConfig, PrivacyLedger
    from fedseal.dp.accounting import epsilon_after

    config = DPConfig(epsilon_budget=1e9, noise_multiplier=_SIGMA)
    ledger = PrivacyLedger.open(state / "history", silo="bench", config=config)
    ledger.close()
    conn = sqlite3.connect(state / "history" / "privacy-ledger.sqlite3")
    with conn:
        conn.executemany(
            "INSERT INTO rounds (round, time_utc, status, steps, sample_rate, noise_multiplier,"
            " max_grad_norm, delta, accountant, epsilon) VALUES (?, '', 'done', 10, 0.01, ?,"
            " 1.0, 1e-5, 'rdp', 0.0)",
            [(r, _SIGMA) for r in range(args.history)],
        )
    conn.close()
    sw = Stopwatch()
    with sw("account"), PrivacyLedger.read(state / "history" / "privacy-ledger.sqlite3") as led:
        eps = epsilon_after(
            led.rounds(),
            noise_multiplier=_SIGMA,
            sample_rate=0.01,
            steps=10,
            delta=1e-5,
            accountant="rdp",
        )
    return sw.seconds["account"], eps


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return its figures (needs the ``dp`` extra: torch and Opacus)."""
    require("dp", "torch", "opacus")
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        state = Path(tmp)
        fedseal_s = _fedseal_step_seconds(args, state, secure=True)
        insecure_s = _fedseal_step_seconds(args, state, secure=False)
        opacus_s = _opacus_step_seconds(args)
        account_s, eps = _accounting_seconds(args, state)
    return {
        "benchmark": "dp",
        "batch_size": args.batch_size,
        "steps_per_repeat": args.steps,
        "fedseal_step_ms": fedseal_s * 1e3,
        "opacus_step_ms": opacus_s * 1e3,
        "step_ratio": fedseal_s / opacus_s,
        "step_ratio_target": 1.1,
        "fedseal_insecure_step_ms": insecure_s * 1e3,
        "csprng_ratio": fedseal_s / insecure_s,
        "history_rounds": args.history,
        "accounting_s": account_s,
        "accounting_target_s": 1.0,
        "accounting_epsilon": eps,
        **machine_info(),
    }
