"""The process executor: silos on a pool of local worker processes, vectors in shared memory.

Each worker is a process started with the ``spawn`` method by default (``forkserver`` is the
other choice: both start from a clean interpreter, so no lock held by one of the driver's
threads is inherited; ``fork`` is refused). Measured here, two workers with 100 silos start
in 0.38-0.45 s with ``spawn`` and 0.40-0.57 s with ``forkserver`` (the first start includes
the fork server's own); the round itself does not depend on it, since workers live as long as
the executor. As always with these methods, the driver's script needs an
``if __name__ == "__main__":`` guard. It owns a slice of the silos
(:class:`~fedseal.simulation.remote.RemoteExecutor`) and talks to the driver over one pipe, in
frames of bytes (:mod:`~fedseal.simulation.frames`), sent with ``send_bytes``: nothing is
pickled.

The round's encoded inputs are one ``multiprocessing.shared_memory`` block, a row per
participant, which the driver fills (directly, through :meth:`ProcessExecutor.input_buffers`)
and every worker maps. A silo's masked input is written back **into its own row** once the
session has masked it (the session no longer reads its input then), and the driver hands
that row to the server: no vector is ever copied through a pipe, and there is no per-silo copy.
So after a round the rows of the silos that sent a masked input hold masked vectors, not
inputs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.simulation.frames import pack, unpack
from fedseal.simulation.remote import RemoteExecutor, checked
from fedseal.simulation.worker import FrameWorker

__all__ = ["START_METHODS", "ProcessExecutor"]

#: Longest wait for a worker's answer to one step (a stage of up to thousands of silos).
ANSWER_TIMEOUT_S = 600.0
#: Start methods that begin from a fresh interpreter (``fork`` could copy a held lock).
START_METHODS = ("spawn", "forkserver")


class ProcessExecutor(RemoteExecutor):
    """Silos on ``workers`` local processes (default: every core); the server in this one.

    Parameters
    ----------
    deployment_id, silos, policy, seed
        As for :class:`~fedseal.simulation.remote.RemoteExecutor`.
    workers : int, optional
        Worker processes; default ``os.cpu_count()``.
    start_method : {"spawn", "forkserver"}
        How worker processes start.
    """

    name = "process"

    def __init__(
        self,
        deployment_id: str,
        silos: Sequence[str],
        *,
        workers: int | None = None,
        policy: ClientPolicy | None = None,
        seed: int | None = None,
        start_method: str = "spawn",
    ) -> None:
        if start_method not in START_METHODS:
            raise ConfigError(f"start_method must be one of {START_METHODS}, got {start_method!r}")
        self._context: SpawnContext | ForkServerContext = (
            multiprocessing.get_context("spawn")
            if start_method == "spawn"
            else multiprocessing.get_context("forkserver")
        )
        self._conns: list[Connection] = []
        self._processes: list[Any] = []
        self._shm: SharedMemory | None = None
        self._rows: dict[str, npt.NDArray[Any]] = {}
        self._shape: tuple[tuple[int, int], np.dtype[Any]] = ((0, 0), np.dtype(np.uint32))
        super().__init__(
            deployment_id, silos, workers=workers or os.cpu_count() or 1, policy=policy, seed=seed
        )

    def _start(self) -> None:
        for _ in range(self.workers):
            ours, theirs = self._context.Pipe()
            process = self._context.Process(target=_worker_main, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            self._conns.append(ours)
            self._processes.append(process)

    def _call_all(self, frames: list[bytes]) -> list[bytes]:
        for conn, frame in zip(self._conns, frames, strict=True):
            conn.send_bytes(frame)
        answers = []
        for conn in self._conns:
            if not conn.poll(ANSWER_TIMEOUT_S):
                raise RuntimeError(f"a simulation worker did not answer in {ANSWER_TIMEOUT_S:g} s")
            answers.append(checked(_receive(conn)))
        return answers

    def input_buffers(self, params: m.RoundParams) -> dict[str, npt.NDArray[Any]]:
        """Rows of the shared block, one per participant (valid until the next round's)."""
        dtype = np.dtype(np.uint32 if params.modulus_bits == 32 else np.uint64)
        shape = (len(params.participants), params.vector_length)
        size = max(1, shape[0] * shape[1] * dtype.itemsize)
        if self._shm is None or self._shm.size < size or self._shape != (shape, dtype):
            self._release_shm()
            self._shm = SharedMemory(create=True, size=size)
        self._shape = (shape, dtype)
        block = np.ndarray(shape, dtype=dtype, buffer=self._shm.buf)
        self._rows = {s: block[i] for i, s in enumerate(params.participants)}
        return dict(self._rows)

    def _begin(
        self, params: m.RoundParams, train_digest: bytes, inputs: Mapping[str, npt.NDArray[Any]]
    ) -> None:
        rows = self._rows if list(self._rows) == list(params.participants) else {}
        if not rows:
            rows = self.input_buffers(params)
        for silo, vector in inputs.items():
            if silo in rows and not _same_memory(vector, rows[silo]):
                rows[silo][...] = vector
        assert self._shm is not None
        shape, dtype = self._shape
        header = {
            "op": "begin",
            "participants": list(params.participants),
            "with_input": [s for s in params.participants if s in inputs],
            "train_digest": train_digest.hex(),
            "shm": self._shm.name,
            "shape": list(shape),
            "dtype": dtype.str,
        }
        self._call_all([pack(header)] * self.workers)

    def _end_round(self) -> None:
        """Keep the shared block: the next round of the same shape reuses it."""
        return None

    def send_step(self, worker: int, frame: bytes) -> None:
        self._conns[worker].send_bytes(frame)

    def next_answer(self) -> tuple[bytes, Mapping[str, npt.NDArray[Any]]]:
        ready = wait(self._conns, timeout=ANSWER_TIMEOUT_S)
        if not ready:
            raise RuntimeError(f"no simulation worker answered within {ANSWER_TIMEOUT_S:g} s")
        return checked(_receive(ready[0])), self._rows  # type: ignore[arg-type]

    def _stop(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):  # already gone
                conn.send_bytes(pack({"op": "stop"}))
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        for conn in self._conns:
            conn.close()
        self._conns, self._processes = [], []
        self._release_shm()

    def _release_shm(self) -> None:
        self._rows = {}
        if self._shm is not None:
            # BufferError: a caller still holds rows of input_buffers(); they keep the mapping.
            with contextlib.suppress(BufferError):
                self._shm.close()
            self._shm.unlink()
            self._shm = None


def _receive(conn: Connection) -> bytes:
    try:
        return conn.recv_bytes()
    except EOFError:
        raise RuntimeError("a simulation worker process exited") from None


def _same_memory(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    return bool(a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _worker_main(conn: Connection) -> None:
    """A worker process: answer frames until ``stop`` (or the driver goes away)."""
    worker = FrameWorker()
    shm: SharedMemory | None = None
    rows: dict[str, npt.NDArray[Any]] = {}
    try:
        while True:
            header, blobs = unpack(conn.recv_bytes())
            op = header.get("op")
            try:
                if op == "stop":
                    break
                if op == "begin":
                    rows = {}
                    if shm is None or shm.name != header["shm"]:
                        if shm is not None:
                            shm.close()
                        shm = SharedMemory(name=header["shm"])
                    block = np.ndarray(tuple(header["shape"]), header["dtype"], buffer=shm.buf)
                    index = {s: i for i, s in enumerate(header["participants"])}
                    mine = set(worker.host.silos) & set(header["with_input"])
                    rows = {s: block[index[s]] for s in mine}
                    del block
                    conn.send_bytes(worker.begin(header, rows))
                elif op == "step":
                    for frame, vectors in worker.steps(header, blobs, group=int(header["group"])):
                        for silo, vector in vectors:
                            rows[silo][...] = vector  # the silo's own row: input no longer read
                        conn.send_bytes(frame)
                else:
                    if op == "end":
                        rows = {}
                    conn.send_bytes(worker.control(header, blobs))
            except Exception as exc:  # report it to the driver, which raises it there
                conn.send_bytes(pack({"worker_error": f"{type(exc).__name__}: {exc}"}))
    except (EOFError, KeyboardInterrupt):
        pass  # the driver went away
    finally:
        rows = {}
        worker.release()
        if shm is not None:
            shm.close()
