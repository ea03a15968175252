"""What the process pool and the Ray executor share: silo placement, setup, and one round.

A :class:`RemoteExecutor` spreads the deployment's silos over ``workers`` workers, round-robin
in sorted order (silo ``i`` on worker ``i mod workers``, so scripted dropouts of the first
silos are spread too); each worker keeps its silos' keys, random sources, ledgers and, during a
round, sessions (:class:`~fedseal.simulation.host.SiloHost`). The server session stays in the
driver and is run by :func:`~fedseal.simulation.pump.pump_round`. Subclasses say how control
frames, ``begin`` (with the round's inputs) and ``step`` frames travel.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.masking_round import unmask_threads
from fedseal.simulation.frames import pack, unpack
from fedseal.simulation.host import policy_to_json
from fedseal.simulation.inprocess import RoundOutcome, simulated_train_digest
from fedseal.simulation.pump import pump_round

__all__ = ["RemoteExecutor", "checked"]


def checked(frame: bytes) -> bytes:
    """``frame``, unless it is a worker's report of a failure (then raise it here)."""
    header, _ = unpack(frame)
    if "worker_error" in header:
        raise RuntimeError(f"simulation worker failed: {header['worker_error']}")
    return frame


class RemoteExecutor(ABC):
    """Silos on workers, the server in this process (see the module docstring).

    Parameters
    ----------
    deployment_id : str
        Bound into every key and signature.
    silos : sequence of str
        Silo names.
    workers : int
        Number of workers (each owns about ``len(silos) / workers`` silos).
    policy : ClientPolicy, optional
        Every silo's security policy.
    seed : int, optional
        Derive every silo's keys and randomness from ``(seed, silo)`` (simulations only).
    """

    name = "remote"
    #: Silos per step frame (0: a worker's whole stage in one frame), silos per answer frame.
    chunk = 0
    group = 1

    def __init__(
        self,
        deployment_id: str,
        silos: Sequence[str],
        *,
        workers: int,
        policy: ClientPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if not silos:
            raise ConfigError("a simulation needs at least one silo")
        self.closed = False
        self.deployment_id = deployment_id
        self.silos = sorted(silos)
        self.workers = min(workers, len(self.silos))
        self.policy = policy or ClientPolicy()
        self.placement = {s: i % self.workers for i, s in enumerate(self.silos)}
        try:
            self._start()
            self.directory = self._setup(seed)
        except BaseException:
            self.close()
            raise

    def _setup(self, seed: int | None) -> dict[str, IdentityPublicKey]:
        """Create each worker's silos (keys are made there) and share the directory."""
        frames = []
        for w in range(self.workers):
            header = {
                "op": "setup",
                "deployment_id": self.deployment_id,
                "silos": [s for s in self.silos if self.placement[s] == w],
                "policy": policy_to_json(self.policy),
                "seed": seed,
            }
            frames.append(pack(header))
        keys: dict[str, bytes] = {}
        for reply in self._call_all(frames):
            answer, blobs = unpack(reply)
            keys.update({str(s): bytes(b) for s, b in zip(answer["silos"], blobs, strict=True)})
        names = sorted(keys)
        self._call_all(
            [pack({"op": "directory", "silos": names}, [keys[s] for s in names])] * self.workers
        )
        return {s: IdentityPublicKey(keys[s]) for s in names}

    def run_round(
        self,
        params: m.RoundParams,
        inputs: Mapping[str, npt.NDArray[Any]],
        *,
        drop_at: Mapping[str, ServerStage] | None = None,
        train_digest: bytes | None = None,
    ) -> RoundOutcome:
        """Run one round; ``drop_at[silo]`` is the first stage the silo no longer answers.

        ``inputs`` are read until each silo masked its own; they may be the arrays of
        :meth:`input_buffers`, which saves a copy.
        """
        if self.closed:
            raise ConfigError("this executor is closed")
        unknown = set(params.participants) - set(self.silos)
        if unknown:
            raise ConfigError(f"participants not in this simulation: {sorted(unknown)}")
        if train_digest is None:
            train_digest = simulated_train_digest(params)
        # The workers are idle while the server removes the masks at the end: it uses the
        # driver's cores for that (secagg.masking.unmask_sum).
        pool, parts = unmask_threads()
        with pool:
            server = ServerSession(
                params, self.directory, train_digest=train_digest, executor=pool,
                parts=parts,
            )  # fmt: skip
            try:
                self._begin(params, train_digest, inputs)
                outcome = pump_round(server, self, self.placement, drop_at=drop_at or {})
            except BaseException:
                self.close()  # a worker may have answers in flight: this executor is done
                raise
        self._call_all([pack({"op": "end"})] * self.workers)
        self._end_round()
        return outcome

    def workers_peak_rss_mb(self) -> float:
        """Peak RSS of all workers together, in MiB (each worker's own peak, summed)."""
        replies = self._call_all([pack({"op": "rss"})] * self.workers)
        return float(sum(unpack(r)[0]["rss_mb"] for r in replies))

    def __enter__(self) -> RemoteExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- how frames travel ---------------------------------------------------------------------

    @abstractmethod
    def _start(self) -> None:
        """Start ``self.workers`` workers."""

    @abstractmethod
    def _call_all(self, frames: list[bytes]) -> list[bytes]:
        """Send ``frames[w]`` to worker ``w`` and return the answers, in worker order."""

    @abstractmethod
    def _begin(
        self, params: m.RoundParams, train_digest: bytes, inputs: Mapping[str, npt.NDArray[Any]]
    ) -> None:
        """Hand the workers the round's inputs and open their sessions."""

    @abstractmethod
    def input_buffers(self, params: m.RoundParams) -> dict[str, npt.NDArray[Any]]:
        """Writable arrays, one per participant, to fill with the round's encoded inputs."""

    @abstractmethod
    def send_step(self, worker: int, frame: bytes) -> None:
        """Send a ``step`` frame (see :class:`~fedseal.simulation.pump.WorkerTransport`)."""

    @abstractmethod
    def next_answer(self) -> tuple[bytes, Mapping[str, npt.NDArray[Any]]]:
        """The next answer frame and the masked vectors of its silos."""

    @abstractmethod
    def _end_round(self) -> None:
        """Release what the round held in this process."""

    def close(self) -> None:
        """Stop the workers and free what they shared; safe to call twice."""
        if not self.closed:
            self.closed = True
            self._stop()

    @abstractmethod
    def _stop(self) -> None:
        """Stop the workers and free what they shared."""
