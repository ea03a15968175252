"""``fedseal bench secagg --executor``: every executor reports the same keys and an exact sum."""

from __future__ import annotations

import json

import pytest

from fedseal.cli import main

KEYS = {
    "round_seconds", "critical_path_seconds", "server_seconds", "upload_bytes_per_client",
    "peak_rss_mb", "workers_peak_rss_mb", "executor", "workers", "executor_start_seconds",
}  # fmt: skip


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_bench_secagg_executors(executor: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "secagg", "--clients", "12", "--dim", "500", "--json"]
    assert main([*argv, "--executor", executor, "--workers", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= KEYS
    assert result["exact_sum"] and result["max_abs_error"] <= result["error_bound"]
    assert result["executor"] == executor and result["workers"] == 2
    assert result["survivors"] == 11
    assert result["critical_path_seconds"] <= result["round_seconds"] + result["server_seconds"]
    assert (result["workers_peak_rss_mb"] > 0) == (executor == "process")


def test_bench_secagg_refuses_zero_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "secagg", "--executor", "process", "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
