"""``fedseal client --config FILE --app module:function``: run one silo's agent.

``--config`` given several times runs those silos side by side in this process, each with its
own identity and stream (:mod:`fedseal.client.multi`; for load tests and benchmarks).

Imports only the standard library at import time (grpc, torch and the app load in the handler).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``fedseal client`` to the command line."""
    p = subparsers.add_parser("client", help="run a silo agent (dials out to the coordinator)")
    p.add_argument(
        "--config",
        required=True,
        type=Path,
        action="append",
        help="silo.toml from fedseal provision; repeat it to host several silos in this "
        "process (load tests only: they share its memory)",
    )
    p.add_argument(
        "--app",
        metavar="MODULE:FUNCTION",
        help="function(context) returning an object with get_weights/fit/evaluate "
        "(default: factory in silo.toml's [app] table); looked up from silo.toml's folder first",
    )
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    if len(args.config) > 1:
        from fedseal.client.multi import run_silos

        return run_silos(args.config, args.app)
    from fedseal.client.run import run_silo

    return run_silo(args.config[0], args.app)
