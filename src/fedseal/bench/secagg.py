"""Secure aggregation: one simulated round (silos inline, on local processes or on Ray), timed.

``--executor`` says where the silos run (:mod:`fedseal.simulation.executors`); the server is
always in this process. The executor's workers are started, and the silos' keys made, before
the clock starts (``executor_start_seconds``); ``round_seconds`` is the round alone.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from fedseal.bench.common import machine_info, peak_rss_mb

__all__ = ["add_arguments", "run"]

_STAGES = {
    "advertise": "ADVERTISE",
    "share": "SHARE",
    "masked": "MASKED_INPUT",
    "consistency": "CONSISTENCY",
    "unmask": "UNMASK",
}

_DEFINITIONS = {
    "inline": "wall clock of the whole round, every silo and the server in this one process; "
    "the silos' steps of a stage run on `workers` threads",
    "process": "wall clock of the whole round, the server in this process and the silos on "
    "`workers` local worker processes (started before the clock)",
    "ray": "wall clock of the whole round, the server in this process and the silos on "
    "`workers` Ray actors (started before the clock)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fedseal bench secagg``."""
    parser.add_argument("--clients", type=int, default=100, help="number of silos n")
    parser.add_argument("--dim", type=int, default=100_000, help="model dimension d")
    parser.add_argument("--dropout", type=float, default=0.1, help="fraction of silos that drop")
    parser.add_argument("--graph", choices=("sparse", "full"), default="sparse")
    parser.add_argument(
        "--drop-stage",
        choices=sorted(_STAGES),
        default="masked",
        help="first stage dropped silos miss (default 'masked': after ShareKeys, so their "
        "pair masks must be recovered)",
    )
    parser.add_argument("--corruption", type=float, default=0.05, help="corruption bound gamma")
    parser.add_argument("--bits", type=int, default=16, help="quantization bits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic updates")
    parser.add_argument(
        "--executor",
        choices=("inline", "process", "ray"),
        default="inline",
        help="where the silos run: this process (inline), local worker processes (process) or "
        "Ray actors (ray, needs fedseal[ray]); the server always runs in this process",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="inline: threads running silos side by side; process/ray: worker processes or "
        "actors, each owning a slice of the silos (default: the cores)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one round and return its figures."""
    import numpy as np

    from fedseal.errors import ConfigError
    from fedseal.protocol.messages import RoundParams
    from fedseal.protocol.policy import ClientPolicy
    from fedseal.protocol.server import ServerStage
    from fedseal.secagg.graph import corrupt_count, full_parameters, sparse_parameters
    from fedseal.secagg.hazmat.randomness import SystemRandomSource
    from fedseal.secagg.quantize import QuantizationSpec
    from fedseal.simulation.executors import make_executor

    n, d = args.clients, args.dim
    if n < 2 or d < 1 or not 0 <= args.dropout < 1:
        raise ConfigError("need --clients >= 2, --dim >= 1 and 0 <= --dropout < 1")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    workers = args.workers or os.cpu_count() or 1
    corrupt = corrupt_count(n, args.corruption)
    graph = (
        sparse_parameters(n, corrupt=corrupt, dropout=args.dropout)
        if args.graph == "sparse"
        else full_parameters(n, corrupt=corrupt)
    )
    # The silos' policy asks for exactly this graph: "--graph sparse" is full_graph_max = 0.
    policy = ClientPolicy(
        roster_size=n,
        corruption=args.corruption,
        dropout=args.dropout,
        full_graph_max=0 if args.graph == "sparse" else n,
    )
    spec = QuantizationSpec(clip=1.0, bits=args.bits, max_weight=1, max_silos=n)
    names = [f"silo-{i:04d}" for i in range(n)]
    params = RoundParams(
        "bench", 1, tuple(sorted(names)), graph.kind, graph.k, graph.threshold,
        spec.encoded_length(d), 32,
    )  # fmt: skip
    dropped = set(names[: int(args.dropout * n)])
    stage = ServerStage[_STAGES[args.drop_stage]]
    start = time.perf_counter()
    executor = make_executor(args.executor, "bench", names, workers=workers, policy=policy)
    start_seconds = time.perf_counter() - start
    with executor:
        # Each silo's float update is made, encoded straight into the executor's buffer (shared
        # memory for the process pool) and dropped; the plaintext mean and the exact sum of the
        # silos meant to survive are kept, since a worker may overwrite an input with its mask.
        rng = np.random.default_rng(args.seed)
        coins = SystemRandomSource()
        expected = np.zeros(d)
        plain_sum = np.zeros(params.vector_length, dtype=np.uint32)
        inputs = executor.input_buffers(params)
        encode_start = time.perf_counter()
        for s in names:
            update = rng.uniform(-1.0, 1.0, d)
            inputs[s][...] = spec.encode(update, weight=1, rng=coins)
            if s not in dropped:
                expected += np.clip(update, -1.0, 1.0)
                np.add(plain_sum, inputs[s], out=plain_sum)
        encode_seconds = (time.perf_counter() - encode_start) / n
        start = time.perf_counter()
        outcome = executor.run_round(params, inputs, drop_at=dict.fromkeys(dropped, stage))
        round_seconds = time.perf_counter() - start
        del inputs
        workers_rss = executor.workers_peak_rss_mb()
    if outcome.result is None:
        raise ConfigError(f"the round aborted: {outcome.abort_reason}")
    decoded = spec.decode_sum(outcome.result, dim=d, contributors=len(outcome.survivors))
    expected /= len(outcome.survivors)
    exact = set(outcome.survivors) == set(names) - dropped and bool(
        np.array_equal(outcome.result, plain_sum)
    )
    client_seconds = list(outcome.client_seconds.values())
    survivor_uploads = [outcome.upload_bytes[s] for s in outcome.survivors]
    return {
        "n": n,
        "d": d,
        "executor": args.executor,
        "workers": workers,
        "t": graph.threshold,
        "k": graph.k,
        "graph": graph.kind.value,
        "drop_stage": args.drop_stage,
        "survivors": len(outcome.survivors),
        "round_seconds": round_seconds,
        "round_seconds_definition": _DEFINITIONS[args.executor],
        "executor_start_seconds": start_seconds,
        "critical_path_seconds": outcome.server_seconds + max(client_seconds),
        "server_seconds": outcome.server_seconds,
        "client_seconds_mean": float(np.mean(client_seconds)),
        "client_seconds_max": float(np.max(client_seconds)),
        "encode_seconds_mean": encode_seconds,
        "exact_sum": exact,
        "max_abs_error": float(np.max(np.abs(decoded.mean - expected))),
        "error_bound": spec.mean_error_bound(),
        "upload_bytes_per_client": int(np.mean(survivor_uploads)),
        "upload_ratio_to_plain": float(np.mean(survivor_uploads)) / (4 * d),
        "peak_rss_mb": peak_rss_mb(),
        "workers_peak_rss_mb": workers_rss,
        **machine_info(),
    }
