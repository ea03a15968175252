"""The ``fedseal`` command.

Each sub-command lives in its own module, which exposes ``register(subparsers)``. Those
modules import only the standard library at import time (heavy imports such as torch happen
inside the handler), so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from fedseal.errors import FedsealError

__all__ = ["main"]

#: Top-level commands: name -> module with ``register(subparsers)``.
COMMANDS: dict[str, str] = {
    "simulate": "fedseal.simulate_cli",
    "audit": "fedseal.audit.cli",
    "privacy": "fedseal.dp.cli",
    "provision": "fedseal.deploy.cli",
    "server": "fedseal.server.cli",
    "client": "fedseal.client.cli",
    "demo": "fedseal.demo.cli",
}

#: ``fedseal bench NAME``: name -> module with ``add_arguments(parser)`` and ``run(args) -> dict``.
BENCHMARKS: dict[str, str] = {
    "secagg": "fedseal.bench.secagg",
    "audit": "fedseal.bench.audit",
    "dp": "fedseal.bench.dp",
    "paillier": "fedseal.bench.paillier",
    "grpc": "fedseal.bench.grpc",
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedseal",
        description="Federated learning with secure aggregation, differential privacy and audit.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(sub)
    bench = sub.add_parser("bench", help="run a benchmark and print its figures")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        p = bench_sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(handler=_bench_handler(module.run))
    return parser


def _bench_handler(run: Callable[[argparse.Namespace], dict[str, Any]]) -> Callable[..., int]:
    def handler(args: argparse.Namespace) -> int:
        from fedseal.bench.common import print_result

        print_result(run(args), as_json=args.json)
        return 0

    return handler


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
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
