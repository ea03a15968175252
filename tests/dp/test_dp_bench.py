"""``fedseal bench dp`` runs end to end on a tiny setting (figures are checked by the bench)."""

from __future__ import annotations

import argparse

import pytest

from fedseal.bench import dp


def test_bench_runs_and_reports_both_sides() -> None:
    parser = argparse.ArgumentParser()
    dp.add_arguments(parser)
    args = parser.parse_args(["--json", "--steps", "5", "--repeats", "1", "--history", "100"])
    result = dp.run(args)
    assert result["fedseal_step_ms"] > 0 and result["opacus_step_ms"] > 0
    assert result["step_ratio"] == pytest.approx(
        result["fedseal_step_ms"] / result["opacus_step_ms"]
    )
    assert result["history_rounds"] == 100 and result["accounting_epsilon"] > 0
    assert (dp.__doc__ or "").strip().splitlines()[0]
