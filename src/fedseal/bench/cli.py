"""The ``fedseal bench NAME`` sub-command: run one benchmark and print its figures.

Each benchmark lives in its own module with ``add_arguments(parser)`` and
``run(args) -> dict``; the result is printed by :func:`fedseal.bench.common.print_result`.
Importing this module imports the benchmark modules, which import only the standard library
at import time (their heavy imports happen inside ``run``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["BENCHMARKS", "register"]

#: ``fedseal bench NAME``: name -> module with ``add_arguments(parser)`` and ``run(args) -> dict``.
BENCHMARKS: dict[str, str] = {
    "secagg": "fedseal.bench.secagg",
    "audit": "fedseal.bench.audit",
    "dp": "fedseal.bench.dp",
    "paillier": "fedseal.bench.paillier",
    "grpc": "fedseal.bench.grpc",
}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``fedseal bench`` and one sub-command per benchmark to the command line."""
    bench = subparsers.add_parser("bench", help="run a benchmark and print its figures")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        p = bench_sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(handler=_handler(module.run))


def _handler(run: Callable[[argparse.Namespace], dict[str, Any]]) -> Callable[..., int]:
    def handler(args: argparse.Namespace) -> int:
        from fedseal.bench.common import print_result

        print_result(run(args), as_json=args.json)
        return 0

    return handler
