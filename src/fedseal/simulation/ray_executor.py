"""The Ray executor: silos on Ray actors, vectors through Ray's object store (``fedseal[ray]``).

Each actor (one CPU) owns a slice of the silos, as a process worker does
(:class:`~fedseal.simulation.remote.RemoteExecutor`), and answers the same frames
(:class:`~fedseal.simulation.worker.FrameWorker`). Frames are bytes; the round's inputs are
put once each in the object store and handed to the owning actor as top-level arguments, so
the actor reads them in place (read-only, zero-copy on the same node); a masked vector comes
back as a numpy array beside its answer frame. Ray serialises only bytes, strings and numpy
arrays here, never an object of ours.

A step is sent ``chunk`` silos at a time, so the driver's server sums the first masked inputs
while the actors mask the next. If Ray is not running, :class:`RayExecutor` starts a local
instance with one CPU per worker (and stops it on :meth:`~RayExecutor.close`); pass
``address`` to join a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.extras import require
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.simulation.frames import pack, unpack
from fedseal.simulation.pool import ANSWER_TIMEOUT_S
from fedseal.simulation.remote import RemoteExecutor, checked
from fedseal.simulation.worker import FrameWorker

__all__ = ["RayExecutor", "RaySiloWorker"]


def _ray() -> Any:
    """The ``ray`` module, or :class:`MissingExtraError` naming the ``ray`` extra."""
    require("ray", "ray")
    import ray  # type: ignore[import-not-found, unused-ignore]

    return ray


class RaySiloWorker:
    """The body of one Ray actor: a :class:`FrameWorker` and the round's input arrays."""

    def __init__(self) -> None:
        self._worker = FrameWorker()

    def control(self, frame: bytes) -> bytes:
        """Answer a control frame (``setup``, ``directory``, ``rss``, ``end``)."""
        try:
            header, blobs = unpack(frame)
            return self._worker.control(header, blobs)
        except Exception as exc:  # reported to the driver, which raises it there
            return pack({"worker_error": f"{type(exc).__name__}: {exc}"})

    def begin(self, frame: bytes, *inputs: npt.NDArray[Any]) -> bytes:
        """Open the round's sessions; ``inputs`` are those of ``header["with_input"]``."""
        try:
            header, _ = unpack(frame)
            arrays = dict(zip(header["with_input"], inputs, strict=True))
            return self._worker.begin(header, arrays)
        except Exception as exc:
            return pack({"worker_error": f"{type(exc).__name__}: {exc}"})

    def step(self, frame: bytes) -> tuple[bytes, list[str], list[npt.NDArray[Any]]]:
        """One step frame, answered in one frame, with the masked vectors beside it."""
        try:
            header, blobs = unpack(frame)
            out = list(self._worker.steps(header, blobs, group=len(header["items"])))
        except Exception as exc:
            return pack({"worker_error": f"{type(exc).__name__}: {exc}"}), [], []
        answer, vectors = out[0] if out else (pack({"answers": []}), [])
        return answer, [s for s, _ in vectors], [v for _, v in vectors]


class RayExecutor(RemoteExecutor):
    """Silos on ``workers`` Ray actors; the server in this process.

    Parameters
    ----------
    deployment_id, silos, policy, seed
        As for :class:`~fedseal.simulation.remote.RemoteExecutor`.
    workers : int, optional
        Actors (one CPU each); default: the CPUs of the Ray instance.
    address : str, optional
        A Ray cluster to join; by default the running instance, or a new local one.
    chunk : int
        Silos per step call (smaller: more overlap of server and actors, more calls).
    """

    name = "ray"

    def __init__(
        self,
        deployment_id: str,
        silos: Sequence[str],
        *,
        workers: int | None = None,
        policy: ClientPolicy | None = None,
        seed: int | None = None,
        address: str | None = None,
        chunk: int = 4,
    ) -> None:
        self._ray_module = _ray()
        ray = self._ray_module
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(
                address=address, num_cpus=workers if address is None else None,
                include_dashboard=False, log_to_driver=False,
            )  # fmt: skip
        self.chunk = self.group = max(1, chunk)
        self._actors: list[Any] = []
        self._pending: list[Any] = []
        self._refs: list[Any] = []
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        super().__init__(deployment_id, silos, workers=n_workers, policy=policy, seed=seed)

    def _start(self) -> None:
        actor = self._ray_module.remote(num_cpus=1)(RaySiloWorker)
        self._actors = [actor.remote() for _ in range(self.workers)]

    def _call_all(self, frames: list[bytes]) -> list[bytes]:
        calls = [a.control.remote(f) for a, f in zip(self._actors, frames, strict=True)]
        return [checked(r) for r in self._ray_module.get(calls)]

    def input_buffers(self, params: m.RoundParams) -> dict[str, npt.NDArray[Any]]:
        """Fresh arrays, one per participant (each is put in the object store by the round)."""
        dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
        return {s: np.empty(params.vector_length, dtype) for s in params.participants}

    def _begin(
        self, params: m.RoundParams, train_digest: bytes, inputs: Mapping[str, npt.NDArray[Any]]
    ) -> None:
        ray = self._ray_module
        calls = []
        for w, actor in enumerate(self._actors):
            mine = [s for s in params.participants if s in inputs and self.placement[s] == w]
            header = {
                "op": "begin",
                "participants": list(params.participants),
                "with_input": mine,
                "train_digest": train_digest.hex(),
            }
            refs = [ray.put(inputs[s]) for s in mine]
            self._refs += refs  # held until the round ends: the actors read them in place
            calls.append(actor.begin.remote(pack(header), *refs))
        for reply in ray.get(calls, timeout=ANSWER_TIMEOUT_S):
            checked(reply)

    def _end_round(self) -> None:
        self._refs = []  # the round's inputs may leave the object store

    def send_step(self, worker: int, frame: bytes) -> None:
        self._pending.append(self._actors[worker].step.remote(frame))

    def next_answer(self) -> tuple[bytes, Mapping[str, npt.NDArray[Any]]]:
        ray = self._ray_module
        ready, self._pending = ray.wait(self._pending, num_returns=1, timeout=ANSWER_TIMEOUT_S)
        if not ready:
            raise RuntimeError(f"no Ray actor answered within {ANSWER_TIMEOUT_S:g} s")
        frame, silos, vectors = ray.get(ready[0])
        return checked(frame), dict(zip(silos, vectors, strict=True))

    def _stop(self) -> None:
        ray = self._ray_module
        for actor in self._actors:
            ray.kill(actor)
        self._actors, self._pending, self._refs = [], [], []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False
