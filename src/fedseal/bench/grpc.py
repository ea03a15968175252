"""What secure aggregation costs over the real transport: SecAgg vs plaintext, real processes.

Provisions a throw-away deployment, then runs the same rounds twice over mTLS gRPC on loopback
with one ``fedseal client`` process per silo: once with ``aggregation = "masking"`` (SecAgg)
and once with ``"none"`` (updates in clear, insecure, the baseline). The silos' app sends a
fixed pseudo-random update of ``--dim`` values, so training costs nothing and the figures are
the protocol and the transport. ``*_round_seconds`` is the mean over rounds of the server's
wall clock from the first ``TrainRequest`` to the applied aggregate; ``bytes_up_per_silo`` is
what one silo sent the server per SecAgg round (frames, without TLS overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

_APP = "fedseal.bench.grpc_app:make_app"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fedseal bench grpc``."""
    parser.add_argument("--silos", type=int, default=10)
    parser.add_argument("--dim", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _run_mode(out: Path, names: list[str], args: argparse.Namespace, mode: str) -> dict[str, Any]:
    import numpy as np

    from fedseal.simulation.local_deployment import prepare_demo_deployment
    from fedseal.simulation.processes import fedseal_command, free_port, spawn_silo

    port = free_port()
    config = prepare_demo_deployment(
        out, names, port=port, rounds=args.rounds, dp=False, aggregation=mode, clip=4.0
    )
    init = out / "init.npy"
    np.save(init, np.zeros(args.dim), allow_pickle=False)
    env = {**os.environ, "FEDSEAL_BENCH_DIM": str(args.dim)}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / "server.log", "ab") as slog:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            fedseal_command("server", "--config", str(config), "--init-model", str(init)),
            stdout=slog, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        time.sleep(0.5)
        silos = [spawn_silo(name, out, env, app=_APP) for name in names]
        try:
            server.wait(timeout=600)
        finally:
            for silo in silos:
                try:
                    silo.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    silo.process.kill()
                silo.log.close()
            if server.poll() is None:
                server.kill()
    state = out / "server" / "state"
    rounds = [json.loads(line) for line in (state / "rounds.jsonl").read_text().splitlines()]
    transport = json.loads((state / "transport.json").read_text())
    done = [r for r in rounds if r["completed"]]
    if len(done) != args.rounds:
        raise RuntimeError(
            f"{mode}: only {len(done)} of {args.rounds} rounds completed; see {logs}"
        )
    up = transport["bytes_up"]
    return {
        "round_seconds": float(np.mean([r["seconds"] for r in done])),
        "bytes_up_per_silo": float(np.mean(list(up.values()))) / args.rounds,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run both modes and return the figures."""
    from fedseal.simulation.data import silo_names

    names = silo_names(args.silos)
    with tempfile.TemporaryDirectory(prefix="fedseal-bench-grpc-") as tmp:
        secagg = _run_mode(Path(tmp) / "masking", names, args, "masking")
        plain = _run_mode(Path(tmp) / "none", names, args, "none")
    return {
        "benchmark": "grpc",
        "silos": args.silos,
        "dim": args.dim,
        "rounds": args.rounds,
        "secagg_round_seconds": secagg["round_seconds"],
        "plaintext_round_seconds": plain["round_seconds"],
        "ratio": secagg["round_seconds"] / plain["round_seconds"],
        "ratio_target": 1.5,
        "bytes_up_per_silo": secagg["bytes_up_per_silo"],
        "plaintext_bytes_up_per_silo": plain["bytes_up_per_silo"],
        "python": sys.version.split()[0],
    }
