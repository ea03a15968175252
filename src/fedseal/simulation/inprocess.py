"""In-process deployments: whole secure-aggregation rounds in one process, on the real sessions.

This is how tests, benchmarks and research users run many silos on one machine: every silo is
a real :class:`~fedseal.protocol.client.ClientSession`, the server a real
:class:`~fedseal.protocol.server.ServerSession`; only the network is replaced by direct calls.
Dropouts are scripted: a silo listed in ``drop_at`` stops answering from that server stage on,
exactly as a silo whose process died would.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy.typing as npt

from fedseal.errors import ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy, ClientSession
from fedseal.protocol.release import MemoryReleaseLedger
from fedseal.protocol.server import Dropout, ServerSession, ServerStage
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey, signing_payload
from fedseal.server.masking_round import unmask_threads

__all__ = [
    "RoundOutcome",
    "SimulatedDeployment",
    "close_if_idle",
    "deliverable",
    "dropout_schedule",
    "finish_outcome",
    "payload_bytes",
    "simulated_train_digest",
    "timed",
]

_T = TypeVar("_T")

_MAX_STEPS = 10_000  # every loop here is bounded


@dataclass
class RoundOutcome:
    """What one simulated round produced, and how long each side worked."""

    result: npt.NDArray[Any] | None
    survivors: tuple[str, ...]
    dropouts: list[Dropout]
    abort_reason: str | None
    server_seconds: float
    client_seconds: dict[str, float] = field(default_factory=dict)
    client_errors: dict[str, str] = field(default_factory=dict)
    upload_bytes: dict[str, int] = field(default_factory=dict)


def finish_outcome(outcome: RoundOutcome, server: ServerSession) -> RoundOutcome:
    """``outcome`` with the ended round's result, survivors, dropouts and abort reason."""
    outcome.result = server.result
    outcome.survivors = server.survivors if server.result is not None else ()
    outcome.dropouts = list(server.dropouts)
    outcome.abort_reason = server.abort_reason
    return outcome


def dropout_schedule(
    server: ServerSession, drop_at: Mapping[str, ServerStage]
) -> Callable[[str], bool]:
    """``gone(silo)``: whether ``silo``, listed in ``drop_at`` from some stage on, has dropped
    by the server's current stage (it then answers nothing more)."""
    order = list(ServerStage)

    def gone(silo: str) -> bool:
        stage = drop_at.get(silo)
        return stage is not None and order.index(server.stage) >= order.index(stage)

    return gone


def deliverable(
    outbox: list[tuple[str, m.Message]], gone: Callable[[str], bool]
) -> list[tuple[str, m.Message]]:
    """The server's messages that reach a silo: not to a dropped silo, no ``AbortRound``."""
    return [(s, msg) for s, msg in outbox if not gone(s) and not isinstance(msg, m.AbortRound)]


def close_if_idle(server: ServerSession) -> list[tuple[str, m.Message]]:
    """No silo answered anything more: the stage times out (``close_stage``), unless done."""
    return [] if server.finished else server.close_stage()


def timed(outcome: RoundOutcome, call: Callable[[], _T]) -> _T:
    """``call()``, its time added to ``outcome.server_seconds``."""
    start = time.perf_counter()
    try:
        return call()
    finally:
        outcome.server_seconds += time.perf_counter() - start


def simulated_train_digest(params: m.RoundParams) -> bytes:
    """A stand-in for the digest of a round's ``TrainRequest`` in simulations and benchmarks."""
    payload = signing_payload("simulated-train", params.deployment_id, params.round_id)
    return hashlib.sha256(payload).digest()


def payload_bytes(message: m.Message) -> int:
    """Approximate bytes a message puts on the wire (payload fields only)."""
    if isinstance(message, m.MaskedInput):
        return int(message.vector.nbytes) + 64
    if isinstance(message, m.ShareKeys):
        return sum(len(s.ciphertext) + 32 + 64 for s in message.shares) + 64
    if isinstance(message, m.UnmaskResponse):
        return 40 * (len(message.seed_shares) + len(message.key_shares)) + 64
    if isinstance(message, m.AdvertiseKeys | m.ConsistencySignature):
        return 192
    return 64


class SimulatedDeployment:
    """A deployment whose silos all live in this process.

    Parameters
    ----------
    deployment_id : str
        Bound into every key and signature.
    silos : sequence of str
        Silo names.
    rng_for : callable
        ``rng_for(name)`` returns the RandomSource of the party ``name`` (``"server"`` or a silo).
    policy : ClientPolicy, optional
        Every silo's security policy.
    workers : int
        Threads that run the silos' steps of a stage side by side (as silos on their own
        machines would). The server session is only ever entered from the calling thread.
    """

    def __init__(
        self,
        deployment_id: str,
        silos: list[str],
        rng_for: Callable[[str], RandomSource],
        policy: ClientPolicy | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.deployment_id = deployment_id
        self.silos = sorted(silos)
        self.identity = {s: IdentityKey.generate() for s in self.silos}
        self.directory: dict[str, IdentityPublicKey] = {
            s: k.public_key for s, k in self.identity.items()
        }
        # One source per party for the deployment's whole life: re-creating a seeded source
        # every round would repeat every key and mask.
        self._rngs = {s: rng_for(s) for s in self.silos}
        self.policy = policy or ClientPolicy()
        self._last_round = -1
        self._releases = {s: MemoryReleaseLedger() for s in self.silos}

    def run_round(
        self,
        params: m.RoundParams,
        inputs: Mapping[str, npt.NDArray[Any]],
        *,
        drop_at: Mapping[str, ServerStage] | None = None,
        server: ServerSession | None = None,
        client_hook: Callable[[str, ClientSession], None] | None = None,
        train_digest: bytes | None = None,
    ) -> RoundOutcome:
        """Run one round; ``drop_at[silo]`` is the first stage the silo no longer answers.

        ``train_digest`` stands for the digest of the round's ``TrainRequest`` (a simulation
        has none); by default it is derived from the deployment and the round id.
        """
        drop_at = dict(drop_at or {})
        if train_digest is None:
            train_digest = simulated_train_digest(params)
        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        # The silos wait while the server removes the masks at the end: it uses every core
        # for that (secagg.masking.unmask_sum), whatever ``workers`` the silos' steps get.
        unmask, parts = unmask_threads()
        server = server or ServerSession(
            params, self.directory, train_digest=train_digest, executor=unmask, parts=parts
        )
        clients = {
            s: ClientSession(
                silo_id=s,
                deployment_id=self.deployment_id,
                identity_key=self.identity[s],
                directory=self.directory,
                rng=self._rngs[s],
                policy=self.policy,
                last_round=self._last_round,
                train_digest=train_digest,
                releases=self._releases[s],
            )
            for s in params.participants
        }
        for silo, session in clients.items():
            if silo in inputs:
                session.provide_input(inputs[silo])
            if client_hook is not None:
                client_hook(silo, session)
        outcome = RoundOutcome(None, (), [], None, 0.0)
        gone = dropout_schedule(server, drop_at)
        outbox = timed(outcome, server.start)

        def client_step(silo: str, message: m.Message) -> tuple[list[m.Message], float]:
            start = time.perf_counter()
            try:
                answers = clients[silo].receive(message)
            except (ProtocolViolation, RoundAbortedError) as exc:
                outcome.client_errors[silo] = f"{type(exc).__name__}: {exc}"
                answers = [m.AbortRound(*server.context.fields(), "client refused")]
            return answers, time.perf_counter() - start

        try:
            return self._loop(server, outbox, outcome, gone, client_step, pool, params)
        finally:
            unmask.shutdown()
            if pool is not None:
                pool.shutdown()

    def _loop(
        self,
        server: ServerSession,
        outbox: list[tuple[str, m.Message]],
        outcome: RoundOutcome,
        gone: Callable[[str], bool],
        client_step: Callable[[str, m.Message], tuple[list[m.Message], float]],
        pool: ThreadPoolExecutor | None,
        params: m.RoundParams,
    ) -> RoundOutcome:
        for _ in range(_MAX_STEPS):
            if server.finished:
                break
            next_outbox: list[tuple[str, m.Message]] = []
            work = deliverable(outbox, gone)
            results = _run(client_step, work, pool, window=2 * self.workers)
            for silo, (answers, elapsed) in zip((s for s, _ in work), results, strict=True):
                outcome.client_seconds[silo] = outcome.client_seconds.get(silo, 0.0) + elapsed
                # Hand each answer to the server at once, as a network would: the server keeps
                # a running sum, so only a few masked vectors are alive at a time.
                start = time.perf_counter()
                for answer in answers:
                    outcome.upload_bytes[silo] = outcome.upload_bytes.get(silo, 0) + (
                        payload_bytes(answer)
                    )
                    next_outbox += server.receive(silo, answer)
                outcome.server_seconds += time.perf_counter() - start
            outbox = next_outbox or timed(outcome, lambda: close_if_idle(server))
        else:  # pragma: no cover - the protocol has five stages
            raise RuntimeError("simulation did not finish within its step bound")
        self._last_round = params.round_id
        return finish_outcome(outcome, server)


def _run(
    step: Callable[[str, m.Message], tuple[list[m.Message], float]],
    work: list[tuple[str, m.Message]],
    pool: ThreadPoolExecutor | None,
    *,
    window: int,
) -> Iterator[tuple[list[m.Message], float]]:
    """``step`` over ``work`` in order; with a pool, at most ``window`` steps in flight."""
    if pool is None:
        for silo, message in work:
            yield step(silo, message)
        return
    pending: deque[Future[tuple[list[m.Message], float]]] = deque()
    for silo, message in work:
        pending.append(pool.submit(step, silo, message))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
