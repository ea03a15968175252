"""``fedseal bench audit``: the verify figure has the roster, quorum and witness checks on, and
``--report`` times the report of a provisioned deployment."""

from __future__ import annotations

import argparse

from fedseal.bench import audit as bench


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_verify_runs_with_roster_quorum_and_witnesses_by_default() -> None:
    args = _args("--entries", "250", "--durable-entries", "5", "--checkpoint-every", "100")
    assert args.silos == 5 and not args.report
    result = bench.run(args)
    assert result["checkpoints"] == 2 and result["cosignatures"] == 10
    assert result["roster_silos"] == 5 and result["quorum"] == 4  # t for 5 silos
    assert result["witnessed_checkpoints"] == 10
    assert result["entries"] == 250 + 2 + 10
    assert len(result["load_average"]) == 3


def test_verify_without_roster() -> None:
    args = _args("--entries", "120", "--durable-entries", "5", "--checkpoint-every", "50")
    result = bench.run(_args("--entries", "120", "--durable-entries", "5", "--silos", "0"))
    assert result["cosignatures"] == 0 and result["quorum"] is None
    assert args.checkpoint_every == 50


def test_report_mode_times_a_deployment_report() -> None:
    result = bench.run(_args("--report", "--rounds", "2", "--silos", "3"))
    assert result["rounds"] == 2 and result["silos"] == 3 and result["logs"] == 4
    assert result["report_seconds"] > 0 and "report_target_met" in result
