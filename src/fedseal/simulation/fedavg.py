"""FedAvg inside secure aggregation, all in one process: the training of ``fedseal simulate``.

Logistic regression on scikit-learn's bundled breast-cancer data (Wolberg et al., UCI), split
non-IID across silos (sorted by label, then dealt out in contiguous blocks) with a held-out test
set by :func:`fedseal.simulation.data.load_hospitals`. Each round every silo trains locally
from the global weights, encodes its weighted update ``[w*dx, w, w*loss, w*accuracy]`` and
takes part in a real SecAgg round (:class:`fedseal.simulation.inprocess.SimulatedDeployment`,
on the sessions of :mod:`fedseal.protocol`); the server sees only the sum. One silo can be made
to drop out after sharing its keys, to show that its pair masks are recovered.
:func:`print_round` prints one row of the per-round table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.protocol.messages import RoundParams
from fedseal.protocol.server import ServerStage
from fedseal.secagg.hazmat.randomness import RandomSource, SystemRandomSource
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.simulation.data import load_hospitals, silo_names
from fedseal.simulation.inprocess import SimulatedDeployment

__all__ = ["RoundReport", "print_round", "run_simulation"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoundReport:
    """What one round produced, as the server may know it."""

    round_id: int
    survivors: int
    dropped: tuple[str, ...]
    test_accuracy: float
    train_loss: float


def _with_bias(x: Array) -> Array:
    return np.hstack([x, np.ones((x.shape[0], 1))])


def _loss_and_accuracy(w: Array, x: Array, y: Array) -> tuple[float, float]:
    p = 1.0 / (1.0 + np.exp(-_with_bias(x) @ w))
    eps = 1e-12
    loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    return float(loss), float(np.mean((p > 0.5) == y))


def _local_update(w: Array, x: Array, y: Array, epochs: int, lr: float) -> Array:
    xb = _with_bias(x)
    local = w.copy()
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-xb @ local))
        local -= lr * (xb.T @ (p - y) / y.size + 1e-3 * local)
    return local - w


def run_simulation(
    *,
    rounds: int = 10,
    n_silos: int = 5,
    drop_round: int | None = 2,
    local_epochs: int = 20,
    lr: float = 0.5,
    seed: int = 0,
    rng_for: Callable[[str], RandomSource] | None = None,
    on_round: Callable[[RoundReport], None] | None = None,
) -> tuple[Array, list[RoundReport]]:
    """Train with FedAvg inside SecAgg; returns the final weights and one report per round."""
    silos, (x_test, y_test) = load_hospitals(n_silos, seed)
    names = silo_names(n_silos)
    dim = x_test.shape[1] + 1
    spec = QuantizationSpec(
        clip=1.0, bits=16, max_weight=1000, max_silos=n_silos, num_metrics=2, metric_clip=10.0
    )
    deployment = SimulatedDeployment("simulate", names, rng_for or (lambda _: SystemRandomSource()))
    graph = deployment.policy.required(n_silos, roster_size=n_silos)
    coins = SystemRandomSource()
    weights = np.zeros(dim)
    reports = []
    for round_id in range(1, rounds + 1):
        params = RoundParams(
            "simulate", round_id, tuple(sorted(names)), graph.kind, graph.k, graph.threshold,
            spec.encoded_length(dim), spec.modulus_bits,
        )  # fmt: skip
        inputs: dict[str, npt.NDArray[Any]] = {}
        for name, (x, y) in zip(names, silos, strict=True):
            update = _local_update(weights, x, y, local_epochs, lr)
            loss, acc = _loss_and_accuracy(weights + update, x, y)
            inputs[name] = spec.encode(update, weight=len(y), metrics=[loss, acc], rng=coins)
        drop = {names[-1]: ServerStage.MASKED_INPUT} if round_id == drop_round else {}
        outcome = deployment.run_round(params, inputs, drop_at=drop)
        if outcome.result is None:
            raise RuntimeError(f"round {round_id} aborted: {outcome.abort_reason}")
        decoded = spec.decode_sum(outcome.result, dim=dim, contributors=len(outcome.survivors))
        weights = weights + decoded.mean
        _, test_acc = _loss_and_accuracy(weights, x_test, y_test)
        report = RoundReport(
            round_id,
            len(outcome.survivors),
            tuple(d.silo for d in outcome.dropouts),
            test_acc,
            float(decoded.metrics[0]) if decoded.metrics is not None else float("nan"),
        )
        reports.append(report)
        if on_round is not None:
            on_round(report)
    return weights, reports


def print_round(report: RoundReport) -> None:
    """One line of the per-round table."""
    dropped = ",".join(report.dropped) or "-"
    sys.stdout.write(
        f"{report.round_id:>5}  {report.survivors:>9}  {dropped:<18}  "
        f"{report.train_loss:>10.4f}  {report.test_accuracy:>13.4f}\n"
    )
    sys.stdout.flush()
