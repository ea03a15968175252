"""``fedseal simulate``: federated training on the loopback deployment, with a dropout.

FedAvg inside SecAgg reaches the plaintext accuracy; so do the Paillier and plaintext modes and
the other strategies.
"""

from __future__ import annotations

import numpy as np
import pytest

from fedseal.cli import main
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.simulation.fedavg import run_simulation


def test_secure_fedavg_matches_plaintext_within_quantization() -> None:
    weights, reports = run_simulation(rounds=5, rng_for=lambda s: SeededRandomSource(s.encode()))
    assert reports[1].dropped == ("hospital-e",) and reports[1].survivors == 4
    assert reports[-1].test_accuracy >= 0.95
    assert np.all(np.isfinite(weights))


@pytest.mark.parametrize(
    ("aggregation", "strategy", "survivors"),
    [("paillier", "fedavg", 5), ("none", "fedprox", 4), ("masking", "fedyogi", 4)],
)
def test_every_mode_and_strategy_trains_and_shows_the_dropout(
    aggregation: str, strategy: str, survivors: int
) -> None:
    _, reports = run_simulation(
        rounds=3, aggregation=aggregation, strategy=strategy,
        paillier_bits=1024, paillier_allow_insecure_bits=True,
    )  # fmt: skip
    assert [r.round_id for r in reports] == [1, 2, 3] and all(r.completed for r in reports)
    # Paillier: the silo dropped before decrypting, so its input is in the sum.
    assert reports[1].dropped == ("hospital-e",) and reports[1].survivors == survivors
    assert reports[-1].test_accuracy >= 0.9


def test_cli_prints_a_table(capsys: object) -> None:
    assert main(["simulate", "--rounds", "2"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "final test accuracy" in out and "hospital-e" in out
    assert out.startswith("FedAvg inside secure aggregation: 5 silos")


def test_cli_takes_the_aggregation_mode_and_the_strategy(capsys: object) -> None:
    args = ["simulate", "--rounds", "2", "--aggregation", "none", "--strategy", "fedadam"]
    assert main(args) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.startswith("FedAdam inside plaintext aggregation (INSECURE)")
    assert "before sending its update" in out and "final test accuracy" in out


def test_cli_bad_arguments_give_a_clear_error(capsys: object) -> None:
    assert main(["simulate", "--rounds", "0"]) == 2
    assert "--rounds >= 1" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_bench_secagg_small(capsys: object) -> None:
    import json

    assert main(["bench", "secagg", "--clients", "12", "--dim", "500", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert result["exact_sum"] and result["max_abs_error"] <= result["error_bound"]
    assert result["survivors"] == 11
