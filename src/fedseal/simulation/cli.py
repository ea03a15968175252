"""The ``fedseal simulate`` sub-command: FedAvg inside SecAgg, every silo in this process.

No network: the rounds run on :mod:`fedseal.simulation.fedavg`. Imports only the standard
library at import time, so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``simulate`` to the ``fedseal`` command."""
    for name, help_text in (
        ("simulate", "FedAvg inside secure aggregation, all silos in this process"),
    ):
        p = subparsers.add_parser(name, help=help_text)
        p.add_argument("--rounds", type=int, default=10)
        p.add_argument("--silos", type=int, default=5)
        p.add_argument("--drop-round", type=int, default=2, help="round in which a silo drops")
        p.add_argument("--seed", type=int, default=0)
        p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from fedseal.errors import ConfigError
    from fedseal.simulation.fedavg import print_round, run_simulation

    if args.rounds < 1 or args.silos < 3:
        raise ConfigError("need --rounds >= 1 and --silos >= 3")
    sys.stdout.write(
        f"FedAvg inside secure aggregation: {args.silos} silos, breast-cancer data (non-IID), "
        f"{args.rounds} rounds; the last silo drops after sharing its keys in round "
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
    )
    sys.stdout.write(f"\nfinal test accuracy: {reports[-1].test_accuracy:.4f}\n")
    return 0
