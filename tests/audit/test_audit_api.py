"""Public API: __all__ complete, no grpc/protobuf, light CLI import, benchmark runs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import fedseal.audit as audit
from fedseal.audit import events
from fedseal.bench import audit as bench


def test_all_is_complete_and_importable() -> None:
    for name in audit.__all__:
        assert hasattr(audit, name), name
    assert sorted(audit.__all__) == sorted(audit._EXPORTS)


def test_event_constants() -> None:
    required = [
        "party_started",
        "party_authenticated",
        "round_started",
        "keys_advertised",
        "shares_routed",
        "dropout",
        "consistency_result",
        "unmask_answered",
        "unmask_refused",
        "aggregate_released",
        "dp_epsilon_spent",
        "dp_budget_refused",
        "config_changed",
        "provisioning",
        "checkpoint",
        "log_repaired",
    ]
    assert set(required) <= events.EVENTS
    for name in required:
        assert getattr(events, name.upper()) == name


def test_no_grpc_and_a_light_cli_import() -> None:
    code = (
        "import sys, fedseal.audit, fedseal.audit.report, fedseal.audit.export;"
        "assert not any(m.split('.')[0] in ('grpc', 'google') for m in sys.modules), 'grpc';"
        "[sys.modules.pop(m) for m in list(sys.modules) if 'fedseal' in m or 'nacl' in m];"
        "import fedseal.audit.cli;"
        "assert 'nacl' not in sys.modules and 'fedseal.audit.log' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_benchmark_runs_small() -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--entries", "300", "--durable-entries", "20", "--json"])
    assert args.json and parser.parse_args([]).entries == 100_000
    result = bench.run(args)
    for key in ("append_per_second_durable", "append_per_second_batched", "verify_seconds"):
        assert result[key] > 0
    assert result["entries"] == 300
    assert (bench.__doc__ or "").splitlines()[0]
