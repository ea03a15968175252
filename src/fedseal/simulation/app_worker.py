"""The worker side of ``fedseal simulate --executor process``: silo apps in their own process.

A simulated deployment's expensive part is the users' own training. With the process executor
(:mod:`fedseal.simulation.app_pool`) each worker process builds a slice of the silos' apps from
the same ``module:function`` factory a deployed silo uses, and answers calls to them
(``get_weights``, ``fit``, ``evaluate`` and the optional ``layer_names``, ``privacy_plan``,
``round_released``); the silo agents, the protocol sessions and the server stay in the driver
process. Calls and answers are frames (:mod:`fedseal.simulation.frames`): a JSON header and
byte blobs; weights travel as ``.npy``/``.npz`` bytes read back with ``allow_pickle=False``.
Nothing is pickled by fedseal.

An exception in the app is answered, not raised: its type and message go back to the driver,
where the agent treats it as the app's failure for that round (an abstention), and
:class:`~fedseal.errors.PrivacyBudgetExceeded` stays itself.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from fedseal.errors import PrivacyBudgetExceeded
from fedseal.simulation.frames import pack, unpack

__all__ = ["OPTIONAL", "decode_weights", "encode_weights", "serve"]

#: The optional app methods a driver-side proxy forwards when the app has them.
OPTIONAL = ("layer_names", "privacy_plan", "round_released")


def encode_weights(weights: Any) -> tuple[str, bytes]:
    """``("flat", npy)`` for one array, ``("list", npz)`` for a list of arrays (in order)."""
    buffer = io.BytesIO()
    if isinstance(weights, np.ndarray):
        np.save(buffer, weights, allow_pickle=False)
        return "flat", buffer.getvalue()
    arrays = {f"a{i}": np.asarray(a) for i, a in enumerate(weights)}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return "list", buffer.getvalue()


def decode_weights(kind: str, data: bytes | memoryview) -> Any:
    """The inverse of :func:`encode_weights` (never unpickles)."""
    if kind == "flat":
        return np.load(io.BytesIO(bytes(data)), allow_pickle=False)
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as npz:
        return [npz[f"a{i}"] for i in range(len(npz.files))]


def _dp_from(doc: dict[str, Any] | None) -> Any:
    if doc is None:
        return None
    from fedseal.dp.config import DPConfig

    return DPConfig(**doc)


def _build(spec: str, silo: dict[str, Any]) -> Any:
    from fedseal.client.app import SiloContext, load_app

    context = SiloContext(
        silo["name"], Path(silo["state_dir"]), _dp_from(silo["dp"]), silo["settings"]
    )
    return load_app(spec, context)


def _call(app: Any, method: str, header: dict[str, Any], blobs: list[memoryview]) -> bytes:
    if method == "get_weights":
        kind, data = encode_weights(app.get_weights())
        return pack({"kind": kind}, [data])
    if method in ("fit", "evaluate"):
        weights = decode_weights(header["kind"], blobs[0])
        first, count, metrics = getattr(app, method)(weights, header["config"])
        metrics = {str(k): float(v) for k, v in dict(metrics).items()}
        if method == "evaluate":
            return pack({"loss": float(first), "count": int(count), "metrics": metrics})
        kind, data = encode_weights(first)
        return pack({"kind": kind, "count": int(count), "metrics": metrics}, [data])
    if method == "layer_names":
        return pack({"value": [str(n) for n in app.layer_names()]})
    if method == "privacy_plan":
        plan = app.privacy_plan()
        return pack({"value": None if plan is None else asdict(plan)})
    if method == "round_released":
        app.round_released(int(header["round_id"]))
        return pack({})
    raise ValueError(f"unknown call {method!r}")


def serve(conn: Connection) -> None:
    """A worker process's main loop: ``init`` builds its apps; then one answer per call.

    Parameters
    ----------
    conn : Connection
        The worker's end of its pipe to the driver.
    """
    apps: dict[str, Any] = {}
    while True:
        try:
            header, blobs = unpack(conn.recv_bytes())
        except EOFError:
            return
        op = header.get("op")
        if op == "stop":
            return
        try:
            if op == "init":
                os.chdir(header["cwd"])
                sys.path.insert(0, header["cwd"])  # the user's project folder, as in the driver
                apps = {s["name"]: _build(header["spec"], s) for s in header["silos"]}
                optional = {n: [m for m in OPTIONAL if callable(getattr(a, m, None))]
                            for n, a in apps.items()}  # fmt: skip
                answer = pack({"optional": optional})
            else:
                answer = _call(apps[header["silo"]], str(op), header, blobs)
        except PrivacyBudgetExceeded as exc:
            answer = pack({"error": str(exc), "budget": True})
        except Exception as exc:  # the app is user code: its failure is answered, not fatal
            answer = pack({"error": f"{type(exc).__name__}: {exc}"[:2000], "budget": False})
        conn.send_bytes(answer)
