"""``fedseal server --config FILE [--init-model FILE.npy]``: run the coordinator.

Imports only the standard library at import time (grpc and the rest load in the handler).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``fedseal server`` to the command line."""
    p = subparsers.add_parser("server", help="run the coordinator (mTLS gRPC)")
    p.add_argument("--config", required=True, type=Path, help="server.toml from fedseal provision")
    p.add_argument("--init-model", type=Path, help="initial model (.npy) for a new deployment")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from fedseal.server.app import run_from_args

    return run_from_args(args)
