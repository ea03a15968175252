"""Secure aggregation: one simulated round (all silos in this process), timed end to end."""

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
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="threads running silos side by side in this one process (default: the cores)",
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
    from fedseal.simulation.inprocess import SimulatedDeployment

    n, d = args.clients, args.dim
    if n < 2 or d < 1 or not 0 <= args.dropout < 1:
        raise ConfigError("need --clients >= 2, --dim >= 1 and 0 <= --dropout < 1")
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
    deployment = SimulatedDeployment(
        "bench", names, lambda _: SystemRandomSource(), workers=args.workers, policy=policy
    )
    params = RoundParams(
        "bench", 1, tuple(sorted(names)), graph.kind, graph.k, graph.threshold,
        spec.encoded_length(d), 32,
    )  # fmt: skip
    dropped = set(names[: int(args.dropout * n)])
    stage = ServerStage[_STAGES[args.drop_stage]]
    # Each silo's float update is made, encoded and dropped at once (only the encoded inputs,
    # which the silos hold, stay in memory); the plaintext mean of the survivors is kept.
    rng = np.random.default_rng(args.seed)
    coins = SystemRandomSource()
    expected = np.zeros(d)
    inputs = {}
    encode_start = time.perf_counter()
    for s in names:
        update = rng.uniform(-1.0, 1.0, d)
        inputs[s] = spec.encode(update, weight=1, rng=coins)
        if s not in dropped:
            expected += np.clip(update, -1.0, 1.0)
    encode_seconds = (time.perf_counter() - encode_start) / n
    start = time.perf_counter()
    outcome = deployment.run_round(params, inputs, drop_at=dict.fromkeys(dropped, stage))
    round_seconds = time.perf_counter() - start
    if outcome.result is None:
        raise ConfigError(f"the round aborted: {outcome.abort_reason}")
    decoded = spec.decode_sum(outcome.result, dim=d, contributors=len(outcome.survivors))
    expected /= len(outcome.survivors)
    plain_sum = np.zeros(params.vector_length, dtype=np.uint32)
    for s in outcome.survivors:
        np.add(plain_sum, inputs[s], out=plain_sum)
    client_seconds = list(outcome.client_seconds.values())
    survivor_uploads = [outcome.upload_bytes[s] for s in outcome.survivors]
    return {
        "n": n,
        "d": d,
        "workers": args.workers,
        "t": graph.threshold,
        "k": graph.k,
        "graph": graph.kind.value,
        "drop_stage": args.drop_stage,
        "survivors": len(outcome.survivors),
        "round_seconds": round_seconds,
        "round_seconds_definition": "wall clock of the whole round, every silo and the server "
        "in this one process; the silos' steps of a stage run on `workers` threads",
        "critical_path_seconds": outcome.server_seconds + max(client_seconds),
        "server_seconds": outcome.server_seconds,
        "client_seconds_mean": float(np.mean(client_seconds)),
        "client_seconds_max": float(np.max(client_seconds)),
        "encode_seconds_mean": encode_seconds,
        "exact_sum": bool(np.array_equal(outcome.result, plain_sum)),
        "max_abs_error": float(np.max(np.abs(decoded.mean - expected))),
        "error_bound": spec.mean_error_bound(),
        "upload_bytes_per_client": int(np.mean(survivor_uploads)),
        "upload_ratio_to_plain": float(np.mean(survivor_uploads)) / (4 * d),
        "peak_rss_mb": peak_rss_mb(),
        **machine_info(),
    }
