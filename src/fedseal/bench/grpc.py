"""What secure aggregation costs over the real transport: SecAgg vs plaintext, real processes.

Provisions a throw-away deployment, then runs the same rounds twice over mTLS gRPC on loopback
with one ``fedseal client`` process per silo: once with ``aggregation = "masking"`` (SecAgg)
and once with ``"none"`` (updates in clear, insecure, the baseline). The silos' app sends a
fixed pseudo-random update of ``--dim`` values, so training costs nothing and the figures are
the protocol and the transport. ``*_round_seconds`` is the mean over rounds of the server's
wall clock from the first ``TrainRequest`` to the applied aggregate; ``bytes_up_per_silo`` is
what one silo sent the server per SecAgg round (frames, without TLS overhead);
``server_peak_rss_mb`` is the peak resident memory of the server process (``VmHWM``, Linux).
``--silo-processes N`` hosts the silos in ``N`` processes (``fedseal client`` with several
``--config``) instead of one process each.
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
from typing import IO, Any

__all__ = ["add_arguments", "peak_rss_mb", "run", "run_deployment"]

_APP = "fedseal.bench.grpc_app:make_app"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fedseal bench grpc``."""
    parser.add_argument("--silos", type=int, default=10)
    parser.add_argument("--dim", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--silo-processes", type=int, default=0,
        help="host the silos in this many processes (default: one process per silo)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of process ``pid`` so far, in MB (``VmHWM``); None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _spawn_hosts(
    out: Path, names: list[str], env: dict[str, str], processes: int
) -> list[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    from fedseal.simulation.processes import fedseal_command

    groups = [names[i::processes] for i in range(processes)]
    hosts: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    for i, group in enumerate(g for g in groups if g):
        configs = [a for n in group for a in ("--config", str(out / "silos" / n / "silo.toml"))]
        log = open(out / "logs" / f"silos-{i}.log", "ab")  # noqa: SIM115 - closed by the caller
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            fedseal_command("client", *configs, "--app", _APP),
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        hosts.append((process, log))
    return hosts


def _wait_measuring(server: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Wait for ``server`` to exit, sampling its peak RSS; returns the last sample (MB)."""
    peak, deadline = 0.0, time.monotonic() + timeout_s
    while server.poll() is None and time.monotonic() < deadline:
        peak = max(peak, peak_rss_mb(server.pid) or 0.0)  # VmHWM only grows: the last is best
        time.sleep(0.2)
    if server.poll() is None:
        raise TimeoutError(f"the server did not finish within {timeout_s:.0f} s")
    return peak


def run_deployment(
    out: Path, names: list[str], *, dim: int, rounds: int, mode: str, silo_processes: int = 0
) -> dict[str, Any]:
    """Provision ``names`` into ``out`` and run ``rounds`` rounds of ``mode`` over gRPC.

    The silos run ``fedseal.bench.grpc_app`` (a fixed update of ``dim`` values); they are
    hosted in ``silo_processes`` processes (0: one each). Returns ``round_seconds``,
    ``bytes_up_per_silo`` and ``server_peak_rss_mb``; the run's files stay in ``out``.

    Raises
    ------
    RuntimeError
        If fewer than ``rounds`` rounds completed.
    """
    import numpy as np

    from fedseal.simulation.local_deployment import prepare_demo_deployment
    from fedseal.simulation.processes import fedseal_command, free_port

    port = free_port()
    config = prepare_demo_deployment(
        out, names, port=port, rounds=rounds, dp=False, aggregation=mode, clip=4.0
    )
    init = out / "init.npy"
    np.save(init, np.zeros(dim), allow_pickle=False)
    env = {**os.environ, "FEDSEAL_BENCH_DIM": str(dim)}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / "server.log", "ab") as slog:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            fedseal_command("server", "--config", str(config), "--init-model", str(init)),
            stdout=slog, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        time.sleep(0.5)
        hosts = _spawn_hosts(out, names, env, silo_processes or len(names))
        try:
            peak = _wait_measuring(server, 600)
        finally:
            for process, log in hosts:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
                log.close()
            if server.poll() is None:
                server.kill()
                server.wait(timeout=30)
    state = out / "server" / "state"
    records = [json.loads(line) for line in (state / "rounds.jsonl").read_text().splitlines()]
    transport = json.loads((state / "transport.json").read_text())
    done = [r for r in records if r["completed"]]
    if len(done) != rounds:
        raise RuntimeError(f"{mode}: only {len(done)} of {rounds} rounds completed; see {logs}")
    up = transport["bytes_up"]
    return {
        "round_seconds": float(np.mean([r["seconds"] for r in done])),
        "bytes_up_per_silo": float(np.mean(list(up.values()))) / rounds,
        "server_peak_rss_mb": peak,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run both modes and return the figures."""
    # simulation.data.silo_names stops at hospital-z: numbered names scale to any --silos.
    names = [f"silo-{i:03d}" for i in range(args.silos)]
    with tempfile.TemporaryDirectory(prefix="fedseal-bench-grpc-") as tmp:
        common = {"dim": args.dim, "rounds": args.rounds, "silo_processes": args.silo_processes}
        secagg = run_deployment(Path(tmp) / "masking", names, mode="masking", **common)
        plain = run_deployment(Path(tmp) / "none", names, mode="none", **common)
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
        "server_peak_rss_mb": secagg["server_peak_rss_mb"],
        "server_peak_rss_target_mb": 300,
        "plaintext_server_peak_rss_mb": plain["server_peak_rss_mb"],
        "python": sys.version.split()[0],
    }
