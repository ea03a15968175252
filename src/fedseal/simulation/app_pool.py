"""Silo apps on local worker processes, for ``fedseal simulate --executor process``.

:class:`AppPool` starts ``workers`` processes (``spawn``: a fresh interpreter each, so no lock
held by a driver thread is inherited), deals the silos round-robin over them and has each build
its silos' apps from the ``module:function`` factory (:mod:`fedseal.simulation.app_worker`).
:class:`RemoteApp` is the driver's stand-in for one of them: a :class:`~fedseal.client.app.
SiloApp` whose calls travel over the worker's pipe. The silo agents, the protocol sessions and
the server stay in the driver process (:mod:`fedseal.simulation.loopback`), which runs each
silo's agent on a thread of its own while the app works, so silos on different workers train
at the same time: the simulation uses every core for what costs most, the users' training.

Every wait on a worker is bounded (``call_timeout_s``); a worker that dies or stops answering
fails the call, which the silo's agent turns into an abstention for that round.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fedseal.errors import ConfigError, PrivacyBudgetExceeded
from fedseal.simulation.app_worker import decode_weights, encode_weights, serve
from fedseal.simulation.frames import pack, unpack

__all__ = ["AppPool", "RemoteApp"]

#: Longest wait for one answer of a worker (a round's local training included).
CALL_TIMEOUT_S = 600.0


class _Worker:
    """One worker process and its pipe; calls are serialised by a lock."""

    def __init__(self, context: Any) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(theirs,), daemon=True)
        self.process.start()
        theirs.close()
        self.lock = threading.Lock()

    def call(self, frame: bytes, timeout_s: float) -> tuple[dict[str, Any], list[memoryview]]:
        with self.lock:
            self.conn.send_bytes(frame)
            if not self.conn.poll(timeout_s):
                raise RuntimeError(f"the app worker did not answer within {timeout_s:g} s")
            header, blobs = unpack(self.conn.recv_bytes())
        if "error" in header:
            if header.get("budget"):
                raise PrivacyBudgetExceeded(header["error"])
            raise RuntimeError(f"in the app worker: {header['error']}")
        return header, blobs


class RemoteApp:
    """The driver's stand-in for one silo's app in a worker process (a ``SiloApp``)."""

    def __init__(
        self, worker: _Worker, silo: str, optional: Sequence[str], timeout_s: float
    ) -> None:
        self._worker, self._silo, self._timeout_s = worker, silo, timeout_s
        self._optional = frozenset(optional)

    def _call(
        self, op: str, blobs: Sequence[bytes] = (), **fields: Any
    ) -> tuple[dict[str, Any], list[memoryview]]:
        frame = pack({"op": op, "silo": self._silo, **fields}, blobs)
        return self._worker.call(frame, self._timeout_s)

    def get_weights(self) -> Any:
        header, blobs = self._call("get_weights")
        return decode_weights(header["kind"], blobs[0])

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        kind, data = encode_weights(weights)
        header, blobs = self._call("fit", [data], kind=kind, config=dict(config))
        return decode_weights(header["kind"], blobs[0]), header["count"], header["metrics"]

    def evaluate(
        self, weights: Any, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        kind, data = encode_weights(weights)
        header, _ = self._call("evaluate", [data], kind=kind, config=dict(config))
        return header["loss"], header["count"], header["metrics"]

    def __getattr__(self, name: str) -> Any:
        """The app's optional methods (``layer_names``, ...), only if the app has them."""
        if name.startswith("_") or name not in self.__dict__.get("_optional", ()):
            raise AttributeError(name)
        if name == "layer_names":
            return lambda: self._call("layer_names")[0]["value"]
        if name == "round_released":
            return lambda round_id: self._call("round_released", round_id=int(round_id))[0]
        return self._privacy_plan

    def _privacy_plan(self) -> Any:
        from fedseal.dp.guard import PrivacyPlan

        doc = self._call("privacy_plan")[0]["value"]
        return None if doc is None else PrivacyPlan(**doc)


class AppPool:
    """Worker processes holding the silos' apps; a context manager that stops them on exit.

    Parameters
    ----------
    spec : str
        The app factory, ``module:function``, found from ``cwd`` as in the driver.
    contexts : mapping of str to (state_dir, dp, settings)
        Each silo's :class:`~fedseal.client.app.SiloContext` fields.
    workers : int, optional
        Worker processes (default: the cores, at most one per silo).
    """

    def __init__(
        self,
        spec: str,
        contexts: Mapping[str, tuple[Path, Any, Mapping[str, Any]]],
        *,
        workers: int | None = None,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        count = min(workers or os.cpu_count() or 1, len(contexts))
        if count < 1:
            raise ConfigError("an app pool needs at least one silo and one worker")
        context = multiprocessing.get_context("spawn")
        self._workers = [_Worker(context) for _ in range(count)]
        self.apps: dict[str, RemoteApp] = {}
        names = sorted(contexts)
        try:
            for i, worker in enumerate(self._workers):
                mine = names[i::count]
                silos = [_silo_doc(n, *contexts[n]) for n in mine]
                init = pack({"op": "init", "spec": spec, "cwd": os.getcwd(), "silos": silos})
                header, _ = worker.call(init, call_timeout_s)
                for n in mine:
                    self.apps[n] = RemoteApp(worker, n, header["optional"][n], call_timeout_s)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every worker (bounded: a worker that does not stop in 10 s is killed)."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send_bytes(pack({"op": "stop"}))
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()
        self._workers = []

    def __enter__(self) -> AppPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _silo_doc(name: str, state_dir: Path, dp: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "state_dir": str(state_dir),
        "dp": None if dp is None else asdict(dp),
        "settings": dict(settings),
    }
