from __future__ import annotations

import argparse

import pytest

from fedseal.bench import paillier as bench


@pytest.mark.slow
def test_bench_runs_and_reports_the_promised_fields() -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--clients", "3", "--dim", "300", "--sample", "2", "--workers", "1"])
    result = bench.run(args)
    for field in (
        "round_seconds",
        "round_seconds_definition",
        "client_encrypt_seconds",
        "server_aggregate_seconds",
        "decrypt_seconds",
        "max_abs_error",
        "error_bound",
        "threshold",
        "key_bits",
        "bytes_up_per_client",
        "unpacked_estimate_seconds",
        "precompute_seconds",
        "keygen_seconds",
    ):
        assert field in result
    assert result["key_bits"] == 2048 and result["threshold"] == 3
    assert result["max_abs_error"] <= result["error_bound"]


def test_defaults() -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.clients, args.dim, args.key_bits, args.threshold) == (10, 100_000, 2048, None)
    assert (bench.__doc__ or "").strip().splitlines()[0]
