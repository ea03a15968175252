"""How the loopback simulation calls each silo's agent: inline, or in order on a thread per silo.

:mod:`fedseal.simulation.loopback` joins the real driver and agents on one event loop. With
apps on worker processes (``simulate --executor process``) each silo's agent waits for its app,
so each silo gets its own single-thread executor: one silo's calls keep their order while
different silos' apps train at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["SiloRunner", "outcome"]


class SiloRunner:
    """Runs each silo's agent calls in order: inline, or on one thread per silo.

    With ``threads`` (the apps are :class:`~fedseal.simulation.app_pool.RemoteApp` stand-ins
    whose calls wait on a worker process), each silo has a single-thread executor, so one
    silo's calls keep their order while different silos' apps train at the same time; the
    result is handed back on the event loop (``call_soon_threadsafe``). Without, a call runs at
    once on the loop, as before.
    """

    def __init__(self, silos: list[str], threads: bool) -> None:
        self._pools = (
            {s: ThreadPoolExecutor(1, thread_name_prefix=f"silo-{s}") for s in silos}
            if threads
            else {}
        )

    def run(self, silo: str, call: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """``then(call())`` (``then(exception)`` if it raised), ``call`` in the silo's order."""
        pool = self._pools.get(silo)
        if pool is None:
            then(outcome(call))
            return
        loop = asyncio.get_running_loop()

        def work() -> None:
            result = outcome(call)
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
                loop.call_soon_threadsafe(then, result)

        pool.submit(work)

    def close(self) -> None:
        """Stop the silos' threads (calls still queued are dropped)."""
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


def outcome(call: Callable[[], Any]) -> Any:
    """``call()``, or the exception it raised (a silo process would die there)."""
    try:
        return call()
    except Exception as exc:  # handed to ``then``: a silo process would die here
        return exc
