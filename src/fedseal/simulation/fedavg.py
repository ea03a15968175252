"""Federated training with every party in one process: the training of ``fedseal simulate``.

Logistic regression on scikit-learn's bundled breast-cancer data (Wolberg et al., UCI), split
non-IID across silos (sorted by label, then dealt out in contiguous blocks) with a held-out test
set by :func:`fedseal.simulation.data.load_hospitals`. The rounds run on a loopback deployment
(:mod:`fedseal.simulation.loopback`): the real round driver, strategy and aggregator of the
chosen mode (``masking``, ``paillier`` or ``none``) and one real silo agent per silo around a
:class:`~fedseal.simulation.logreg.LogisticRegressionApp`, with no network. Each silo declares
its number of examples as its FedAvg weight and sends the loss and accuracy of the global model
on its data inside its (masked or encrypted) vector; the server sees only the sums. One silo can
be made to drop out in a given round, to show the recovery: after sharing its keys (masking:
its pair masks are recovered), before decrypting (Paillier: the others decrypt without it) or
before sending its update (none). :func:`print_round` prints one row of the per-round table.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.config.strategy import StrategySettings
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.server.driver import RoundSummary
from fedseal.simulation.data import load_hospitals, silo_names
from fedseal.simulation.logreg import LogisticRegressionApp, loss_and_accuracy
from fedseal.simulation.loopback import Dropout, LoopbackConfig, run_loopback

__all__ = ["DROP_ON", "RoundReport", "print_round", "run_simulation"]

Array = npt.NDArray[np.float64]

#: The message on whose arrival the dropping silo loses its connection, per aggregation mode.
DROP_ON: dict[str, type[Any]] = {
    "masking": m.ShareDelivery,  # its shares are dealt, its masked input never comes
    "paillier": c.DecryptRequest,  # its encrypted input is in the sum, its partial never comes
    "none": c.TrainRequest,  # it never sends its update
}

#: FedProx's μ when ``strategy = "fedprox"``.
PROXIMAL_MU = 0.1


@dataclass(frozen=True)
class RoundReport:
    """What one round produced, as the server may know it.

    ``survivors`` counts the silos whose input is in the sum; ``train_loss`` is the weighted
    mean loss of the global model the round started from, on the silos' data; ``test_accuracy``
    that of the model after the round on the held-out set. An aborted round (``completed``
    False, with its ``reason``) left the model unchanged.
    """

    round_id: int
    survivors: int
    dropped: tuple[str, ...]
    test_accuracy: float
    train_loss: float
    completed: bool = True
    reason: str | None = None


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
    aggregation: str = "masking",
    strategy: str = "fedavg",
    paillier_bits: int = 2048,
    paillier_allow_insecure_bits: bool = False,
) -> tuple[Array, list[RoundReport]]:
    """Train on a loopback deployment; returns the final weights and one report per round.

    Parameters
    ----------
    rounds : int
        Rounds to complete.
    n_silos : int
        Silos (``hospital-a``, ...), each with its block of the training data.
    drop_round : int, optional
        The round in which the last silo drops (see :data:`DROP_ON`); None: nobody drops.
    local_epochs, lr : int, float
        Each silo's local gradient descent, sent in every round's config.
    seed : int
        Seed of the data split.
    rng_for : callable, optional
        ``rng_for(silo)``: the silo's randomness (default ``SystemRandomSource``).
    on_round : callable, optional
        Called with each :class:`RoundReport` (e.g. :func:`print_round`).
    aggregation : {"masking", "paillier", "none"}
        The aggregation mode; ``none`` sends updates in clear (insecure).
    strategy : {"fedavg", "fedprox", "fedadagrad", "fedadam", "fedyogi"}
        The server's strategy (FedProx with μ = :data:`PROXIMAL_MU`).
    paillier_bits, paillier_allow_insecure_bits : int, bool
        The size of the Paillier key dealt for ``paillier``; below 2048 only with the flag.

    Raises
    ------
    ConfigError
        For an unknown mode or strategy, or a Paillier key size the silos refuse.
    RoundAbortedError
        If rounds keep failing.
    """
    silos, (x_test, y_test) = load_hospitals(n_silos, seed)
    names = silo_names(n_silos)
    apps = {name: LogisticRegressionApp(x, y) for name, (x, y) in zip(names, silos, strict=True)}
    dropouts: tuple[Dropout, ...] = ()
    if drop_round is not None and aggregation in DROP_ON:
        dropouts = (Dropout(names[-1], drop_round, DROP_ON[aggregation]),)
    config = LoopbackConfig(
        rounds=rounds, aggregation=aggregation, deployment_id="simulate", dropouts=dropouts,
        strategy=StrategySettings(
            name=strategy, silo_lr=lr, local_epochs=local_epochs,
            proximal_mu=PROXIMAL_MU if strategy == "fedprox" else 0.0,
        ),
        fedavg_weights={name: min(len(app.y), 1000) for name, app in apps.items()},
        paillier_bits=paillier_bits, paillier_allow_insecure_bits=paillier_allow_insecure_bits,
    )  # fmt: skip
    reports: list[RoundReport] = []

    def report(summary: RoundSummary, weights: Array) -> None:
        _, test_accuracy = loss_and_accuracy(weights, x_test, y_test)
        metrics = summary.metrics
        loss = metrics.loss if metrics is not None and metrics.loss is not None else math.nan
        survivors = len(summary.survivors) if summary.completed else 0
        dropped = tuple(d["silo"] for d in summary.dropouts)
        reports.append(
            RoundReport(
                summary.round_id,
                survivors,
                dropped,
                test_accuracy,
                loss,
                completed=summary.completed,
                reason=summary.reason,
            )
        )
        if on_round is not None:
            on_round(reports[-1])

    initial = apps[names[0]].get_weights()
    result = run_loopback(apps, initial, config, rng_for=rng_for, on_round=report)
    return result.weights, reports


def print_round(report: RoundReport) -> None:
    """One line of the per-round table."""
    if not report.completed:
        sys.stdout.write(f"{report.round_id:>5}  aborted: {report.reason}\n")
        sys.stdout.flush()
        return
    dropped = ",".join(report.dropped) or "-"
    sys.stdout.write(
        f"{report.round_id:>5}  {report.survivors:>9}  {dropped:<18}  "
        f"{report.train_loss:>10.4f}  {report.test_accuracy:>13.4f}\n"
    )
    sys.stdout.flush()
