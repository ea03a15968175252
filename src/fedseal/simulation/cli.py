"""The ``fedseal simulate`` sub-command: federated training with every party in this process.

No network: the rounds run on :mod:`fedseal.simulation.fedavg`, on the real round driver and
silo agents (:mod:`fedseal.simulation.loopback`), in any aggregation mode and with any strategy.
Imports only the standard library at import time, so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

#: The aggregation modes (``fedseal.protocol.control.AGGREGATION_MODES``, repeated here so that
#: this module imports no numpy).
_MODES = {
    "masking": ("secure aggregation", "after sharing its keys"),
    "paillier": ("threshold Paillier aggregation", "before decrypting the sum it is part of"),
    "none": ("plaintext aggregation (INSECURE)", "before sending its update"),
}
_STRATEGIES = {
    "fedavg": "FedAvg",
    "fedprox": "FedProx",
    "fedadagrad": "FedAdagrad",
    "fedadam": "FedAdam",
    "fedyogi": "FedYogi",
}


def register(subparsers: Any) -> None:
    """Add ``simulate`` to the ``fedseal`` command."""
    p = subparsers.add_parser(
        "simulate", help="federated training inside secure aggregation, all silos in this process"
    )
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--silos", type=int, default=5)
    p.add_argument("--drop-round", type=int, default=2, help="round in which a silo drops")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--aggregation", choices=tuple(_MODES), default="masking",
        help="masking (SecAgg), paillier (threshold Paillier) or none (plaintext, insecure)",
    )  # fmt: skip
    p.add_argument(
        "--strategy", choices=tuple(_STRATEGIES), default="fedavg", help="the server's strategy"
    )
    p.add_argument(
        "--app", metavar="MODULE:FUNCTION",
        help="your own app (as for `fedseal client --app`), looked up from this folder first; "
        "default: the built-in logistic regression on breast-cancer data",
    )  # fmt: skip
    p.add_argument("--dp", action="store_true", help="with --app: give every silo DP settings")
    p.add_argument(
        "--out", default="fedseal-simulation", help="with --app: where state and reports go"
    )
    p.add_argument(
        "--executor", choices=("inline", "process"), default="inline",
        help="with --app: run the apps in this process (inline) or on worker processes "
        "(process: silos train in parallel on every core)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, help="with --executor process (default: the cores)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from fedseal.errors import ConfigError
    from fedseal.simulation.fedavg import print_round, run_simulation

    if args.rounds < 1 or args.silos < 3:
        raise ConfigError("need --rounds >= 1 and --silos >= 3")
    if args.app is not None:
        from pathlib import Path

        from fedseal.simulation.user_app import run_user_app

        run_user_app(
            args.app, silos=args.silos, rounds=args.rounds, out=Path(args.out),
            aggregation=args.aggregation, strategy=args.strategy, dp=args.dp,
            executor=args.executor, workers=args.workers,
        )  # fmt: skip
        return 0
    if args.dp or args.executor != "inline":
        raise ConfigError("--dp and --executor need --app (the built-in simulation is inline)")
    inside, when = _MODES[args.aggregation]
    sys.stdout.write(
        f"{_STRATEGIES[args.strategy]} inside {inside}: {args.silos} silos, breast-cancer data "
        f"(non-IID), {args.rounds} rounds; the last silo drops {when} in round "
        f"{args.drop_round}.\n\n"
        f"{'round':>5}  {'survivors':>9}  {'dropped':<18}  {'train loss':>10}  "
        f"{'test accuracy':>13}\n"
    )
    _, reports = run_simulation(
        rounds=args.rounds,
        n_silos=args.silos,
        drop_round=args.drop_round,
        seed=args.seed,
        on_round=print_round,
        aggregation=args.aggregation,
        strategy=args.strategy,
    )
    sys.stdout.write(f"\nfinal test accuracy: {reports[-1].test_accuracy:.4f}\n")
    return 0
