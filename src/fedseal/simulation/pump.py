"""The driver's loop of a round whose silos live on workers: one pump, the server in the driver.

:func:`pump_round` is :meth:`fedseal.simulation.inprocess.SimulatedDeployment.run_round`'s loop
with the silos' steps sent to workers: each stage, the server's outgoing messages are grouped by
the worker that owns the silo, encoded once per distinct message (a broadcast is one blob) and
sent as one ``step`` frame per worker (or per ``chunk`` silos). Answers are handed to the
:class:`~fedseal.protocol.server.ServerSession` as they arrive, so the server's running sum
overlaps the workers' masking. A masked input's vector does not travel in the frame: the
transport hands it over (a view of shared memory, or an array from Ray's object store).

Dropouts are scripted as in-process: a silo listed in ``drop_at`` gets no message from that
server stage on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy.typing as npt

from fedseal.protocol import messages as m
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.protocol.wire import decode_to_server, encode_to_silo
from fedseal.simulation.frames import BlobTable, pack, unpack
from fedseal.simulation.inprocess import (
    RoundOutcome,
    close_if_idle,
    deliverable,
    dropout_schedule,
    finish_outcome,
    payload_bytes,
    timed,
)

__all__ = ["WorkerTransport", "pump_round"]

_MAX_STEPS = 10_000  # every loop here is bounded


class WorkerTransport(Protocol):
    """How frames reach the workers and their answers come back."""

    #: Silos per ``step`` frame (0: all of a worker's silos of the stage in one frame).
    chunk: int
    #: Silos per answer frame a worker sends back.
    group: int

    def send_step(self, worker: int, frame: bytes) -> None:
        """Send a ``step`` frame to ``worker`` (its answers come from :meth:`next_answer`)."""

    def next_answer(self) -> tuple[bytes, Mapping[str, npt.NDArray[Any]]]:
        """The next answer frame from any worker, and where its silos' masked vectors are."""


def pump_round(
    server: ServerSession,
    transport: WorkerTransport,
    placement: Mapping[str, int],
    *,
    drop_at: Mapping[str, ServerStage],
) -> RoundOutcome:
    """Run ``server``'s round to its end with the silos on ``transport``'s workers.

    Parameters
    ----------
    server : ServerSession
        A fresh session of the round.
    transport : WorkerTransport
        The workers, whose sessions of the round are already open.
    placement : mapping of str to int
        The worker of each silo.
    drop_at : mapping of str to ServerStage
        The first stage each listed silo no longer answers.
    """
    outcome = RoundOutcome(None, (), [], None, 0.0)
    gone = dropout_schedule(server, drop_at)
    outbox = timed(outcome, server.start)
    for _ in range(_MAX_STEPS):
        if server.finished:
            break
        work = deliverable(outbox, gone)
        _dispatch(transport, placement, work)
        next_outbox: list[tuple[str, m.Message]] = []
        remaining = len(work)
        while remaining > 0:
            frame, vectors = transport.next_answer()
            header, blobs = unpack(frame)
            for silo, seconds, error, indices in header["answers"]:
                remaining -= 1
                outcome.client_seconds[silo] = outcome.client_seconds.get(silo, 0.0) + seconds
                if error is not None:
                    outcome.client_errors[silo] = str(error)
                start = time.perf_counter()
                for index in indices:
                    answer = decode_to_server(bytes(blobs[index]))
                    if isinstance(answer, m.MaskedInput):
                        answer = dataclasses.replace(answer, vector=vectors[silo])
                    outcome.upload_bytes[silo] = outcome.upload_bytes.get(silo, 0) + (
                        payload_bytes(answer)  # type: ignore[arg-type]
                    )
                    next_outbox += server.receive(silo, answer)  # type: ignore[arg-type]
                outcome.server_seconds += time.perf_counter() - start
        outbox = next_outbox or timed(outcome, lambda: close_if_idle(server))
    else:  # pragma: no cover - the protocol has five stages
        raise RuntimeError("simulation did not finish within its step bound")
    return finish_outcome(outcome, server)


def _dispatch(
    transport: WorkerTransport,
    placement: Mapping[str, int],
    work: Sequence[tuple[str, m.Message]],
) -> None:
    """Send each worker its silos' messages, ``transport.chunk`` silos per frame."""
    by_worker: dict[int, list[tuple[str, m.Message]]] = {}
    for silo, message in work:
        by_worker.setdefault(placement[silo], []).append((silo, message))
    for worker, items in sorted(by_worker.items()):
        size = transport.chunk or len(items)
        for first in range(0, len(items), size):
            table = BlobTable(encode_to_silo)
            entries = [[silo, table.add(msg)] for silo, msg in items[first : first + size]]
            header = {"op": "step", "items": entries, "group": transport.group}
            transport.send_step(worker, pack(header, table.blobs))
