"""``fedseal simulate``: FedAvg inside SecAgg reaches the plaintext accuracy, with a dropout."""

from __future__ import annotations

import numpy as np

from fedseal.cli import main
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.simulation.fedavg import run_simulation


def test_secure_fedavg_matches_plaintext_within_quantization() -> None:
    weights, reports = run_simulation(rounds=5, rng_for=lambda s: SeededRandomSource(s.encode()))
    assert reports[1].dropped == ("hospital-e",) and reports[1].survivors == 4
    assert reports[-1].test_accuracy >= 0.95
    assert np.all(np.isfinite(weights))


def test_cli_prints_a_table(capsys: object) -> None:
    assert main(["simulate", "--rounds", "2"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "final test accuracy" in out and "hospital-e" in out


def test_cli_bad_arguments_give_a_clear_error(capsys: object) -> None:
    assert main(["simulate", "--rounds", "0"]) == 2
    assert "--rounds >= 1" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_bench_secagg_small(capsys: object) -> None:
    import json

    assert main(["bench", "secagg", "--clients", "12", "--dim", "500", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert result["exact_sum"] and result["max_abs_error"] <= result["error_bound"]
    assert result["survivors"] == 11
