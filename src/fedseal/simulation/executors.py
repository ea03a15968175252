"""Simulation executors: where the silos of a simulated secure-aggregation round run.

Three executors share one interface, :class:`Executor`; :func:`make_executor` is the only place
an executor's name becomes code:

``inline``
    every silo in this process (:class:`InlineExecutor`, on
    :class:`~fedseal.simulation.inprocess.SimulatedDeployment`; ``workers`` threads);
``process``
    the silos spread over local worker processes, every core by default
    (:class:`~fedseal.simulation.pool.ProcessExecutor`), vectors in shared memory;
``ray``
    the silos spread over Ray actors (:class:`~fedseal.simulation.ray_executor.RayExecutor`,
    the ``ray`` extra), vectors in Ray's object store.

In every case the :class:`~fedseal.protocol.server.ServerSession` runs in this process, each
silo's sessions, keys and release ledger stay with one worker for the executor's life, and a
round gives exactly the same sum: the sum of the surviving silos' encoded inputs mod 2^k.

Examples
--------
>>> with make_executor("process", "demo", names, workers=2) as ex:   # doctest: +SKIP
...     inputs = ex.input_buffers(params)        # fill these in place: no copy
...     outcome = ex.run_round(params, inputs)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerStage
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.simulation.host import silo_random
from fedseal.simulation.inprocess import RoundOutcome, SimulatedDeployment

__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "make_executor"]

#: The executors' names, as ``--executor`` takes them.
EXECUTORS = ("inline", "process", "ray")


class Executor(Protocol):
    """Runs simulated rounds: the silos wherever the executor puts them, the server here."""

    name: str
    workers: int
    closed: bool
    directory: dict[str, IdentityPublicKey]

    def input_buffers(self, params: m.RoundParams) -> dict[str, npt.NDArray[Any]]:
        """Writable arrays, one per participant, to fill with the round's encoded inputs."""

    def run_round(
        self,
        params: m.RoundParams,
        inputs: Mapping[str, npt.NDArray[Any]],
        *,
        drop_at: Mapping[str, ServerStage] | None = None,
        train_digest: bytes | None = None,
    ) -> RoundOutcome:
        """Run one round; ``drop_at[silo]`` is the first stage the silo no longer answers."""

    def workers_peak_rss_mb(self) -> float:
        """Peak RSS of all worker processes together, in MiB (0 when there are none)."""

    def close(self) -> None:
        """Stop the workers; safe to call twice."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class InlineExecutor:
    """Every silo in this process, their steps of a stage on ``workers`` threads.

    Parameters
    ----------
    deployment_id, silos, policy
        As for :class:`~fedseal.simulation.inprocess.SimulatedDeployment`.
    workers : int
        Threads (``1``: one after another).
    seed : int, optional
        Derive each silo's randomness from ``(seed, silo)``; identity keys are always fresh.
    """

    name = "inline"

    def __init__(
        self,
        deployment_id: str,
        silos: Sequence[str],
        *,
        workers: int = 1,
        policy: ClientPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        self.workers = workers
        self.closed = False
        self._deployment = SimulatedDeployment(
            deployment_id,
            list(silos),
            lambda silo: silo_random(seed, silo),
            policy=policy,
            workers=workers,
        )
        self.directory = self._deployment.directory

    def input_buffers(self, params: m.RoundParams) -> dict[str, npt.NDArray[Any]]:
        """Fresh arrays, one per participant."""
        dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
        return {s: np.empty(params.vector_length, dtype) for s in params.participants}

    def run_round(
        self,
        params: m.RoundParams,
        inputs: Mapping[str, npt.NDArray[Any]],
        *,
        drop_at: Mapping[str, ServerStage] | None = None,
        train_digest: bytes | None = None,
    ) -> RoundOutcome:
        """One round on :meth:`SimulatedDeployment.run_round`."""
        if self.closed:
            raise ConfigError("this executor is closed")
        return self._deployment.run_round(
            params, inputs, drop_at=drop_at, train_digest=train_digest
        )

    def workers_peak_rss_mb(self) -> float:
        """0: no process but this one."""
        return 0.0

    def close(self) -> None:
        """Nothing to stop; refuse later rounds, as the other executors do."""
        self.closed = True

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(
    name: str,
    deployment_id: str,
    silos: Sequence[str],
    *,
    workers: int | None = None,
    policy: ClientPolicy | None = None,
    seed: int | None = None,
    **options: Any,
) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`), its workers started.

    Parameters
    ----------
    name : {"inline", "process", "ray"}
        Which executor.
    deployment_id : str
        Bound into every key and signature.
    silos : sequence of str
        Silo names.
    workers : int, optional
        Threads (inline) or worker processes / actors; default: ``1`` inline, every core
        (process), Ray's CPUs (ray).
    policy : ClientPolicy, optional
        Every silo's security policy.
    seed : int, optional
        Derive the silos' randomness (and, on workers, identity keys) from ``(seed, silo)``.
    **options
        Passed to the executor (``start_method`` for process, ``address`` for ray).

    Raises
    ------
    ConfigError
        Unknown executor or invalid ``workers``.
    MissingExtraError
        ``ray`` without the ``ray`` extra installed.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if name == "inline":
        if options:
            raise ConfigError(f"the inline executor takes no options, got {sorted(options)}")
        return InlineExecutor(deployment_id, silos, workers=workers or 1, policy=policy, seed=seed)
    if name == "process":
        from fedseal.simulation.pool import ProcessExecutor

        return ProcessExecutor(
            deployment_id, silos, workers=workers, policy=policy, seed=seed, **options
        )
    if name == "ray":
        from fedseal.simulation.ray_executor import RayExecutor

        return RayExecutor(
            deployment_id, silos, workers=workers, policy=policy, seed=seed, **options
        )
    raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
