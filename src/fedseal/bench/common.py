"""Shared helpers for benchmarks: timing, peak memory, and printing one result object."""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Stopwatch", "machine_info", "peak_rss_mb", "print_result"]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_info() -> dict[str, Any]:
    """A few facts that make a figure comparable: CPU count, Python and platform."""
    import os

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class Stopwatch:
    """Accumulates wall-clock time under named labels.

    Examples
    --------
    >>> sw = Stopwatch()
    >>> with sw("server"):
    ...     pass
    >>> sw.seconds["server"] >= 0.0
    True
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start


def print_result(result: dict[str, Any], *, as_json: bool) -> None:
    """Print a benchmark result as one JSON object (``as_json``) or as aligned lines."""
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        return
    width = max((len(k) for k in result), default=0)
    for key in sorted(result):
        value = result[key]
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        sys.stdout.write(f"{key:<{width}}  {shown}\n")
