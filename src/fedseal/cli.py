"""The ``fedseal`` command.

Each sub-command lives in its own module, which exposes ``register(subparsers)``. Those
modules import only the standard library at import time (heavy imports such as torch happen
inside the handler), so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fedseal.errors import FedsealError

__all__ = ["main"]

#: Top-level commands: name -> module with ``register(subparsers)``, in the order of ``--help``.
COMMANDS: dict[str, str] = {
    "simulate": "fedseal.simulation.cli",
    "audit": "fedseal.audit.cli",
    "privacy": "fedseal.dp.cli",
    "provision": "fedseal.deploy.cli",
    "server": "fedseal.server.cli",
    "client": "fedseal.client.cli",
    "demo": "fedseal.demo.cli",
    "bench": "fedseal.bench.cli",
    "new": "fedseal.scaffold.cli",
    "model": "fedseal.server.model_cli",
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedseal",
        description="Federated learning with secure aggregation, differential privacy and audit.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fedseal`` command line and return its exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except FedsealError as exc:
        print(f"fedseal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fedseal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fedseal audit show ... | head`: the reader has gone
        _quiet_stdout()
        return 141  # as a shell reports a process ended by SIGPIPE
    return status


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing more."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests): nothing to do
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
