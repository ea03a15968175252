"""``fedseal demo [--out DIR] [--rounds R] [--no-dp]``: run the one-machine deployment demo.

Imports only the standard library at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``fedseal demo`` to the command line."""
    p = subparsers.add_parser(
        "demo", help="provision and run a 5-hospital deployment on this machine (mTLS, SecAgg, DP)"
    )
    p.add_argument("--out", type=Path, default=Path("fedseal-demo"), help="deployment folder")
    p.add_argument("--rounds", type=int, default=10, help="FedAvg rounds (default 10)")
    p.add_argument("--silos", type=int, default=5, help="number of hospitals (default 5)")
    p.add_argument("--no-dp", action="store_true", help="train without differential privacy")
    p.add_argument("--no-crash", action="store_true", help="do not kill a hospital mid-round")
    p.add_argument(
        "--aggregation",
        choices=("masking", "paillier", "none"),
        default="masking",
        help=(
            "'paillier': packed threshold Paillier (deals a 2048-bit key first, which takes a "
            "while); 'none' sends updates in clear (INSECURE; to measure what SecAgg costs)"
        ),
    )
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    if not args.no_dp:  # checked here: the silos that train are other processes
        from fedseal.extras import require

        require("dp")
    from fedseal.demo.run import DemoOptions, run_demo
    from fedseal.protocol.policy import default_min_participants

    crash = not args.no_crash
    if crash and args.silos - 1 < default_min_participants(args.silos):
        # A killed hospital never comes back: every later round would be short of silos.
        print(
            f"not killing a hospital: with {args.silos} hospitals every round needs all of them "
            f"(min_participants {default_min_participants(args.silos)}); use --silos 4 or more "
            "to see a dropout recovered"
        )
        crash = False
    opts = DemoOptions(
        out=args.out,
        rounds=args.rounds,
        silos=args.silos,
        dp=not args.no_dp,
        crash_round=min(2, args.rounds) if crash else None,
        aggregation=args.aggregation,
    )
    summary = run_demo(opts)
    return 0 if summary["rounds_completed"] == args.rounds else 1
