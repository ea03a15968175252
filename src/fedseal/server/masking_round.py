"""The coordinator's side of ``aggregation = "masking"``: the five SecAgg stages of one round.

Silos answer the ``TrainRequest`` with ``TrainReady`` (they train only once their shares are
delivered, so a round that fails in stages 0-1 costs them no privacy budget). The ready silos
then run the stages of :class:`~fedseal.protocol.server.ServerSession` (Bonawitz et al., CCS
2017, with the SecAgg+ graph of Bell et al., CCS 2020): a stage closes when every awaited silo
answered or after ``stage_timeout_s`` (the masked-input stage also gets ``train_timeout_s``); a
disconnect is the silo's ``AbortRound``, in the stage it happens in or, for a silo that had
already answered that stage (or the train phase), in the next stage that awaits it
(``RoundScope.departed``). :class:`MaskingSession` is sans-IO (``protocol/round_control.py``'s
``AggregationSession``): each step carries the dropouts' audit records before the messages
that follow from them. Silos the session proves or finds misbehaving are reported in
:attr:`MaskingSession.culprits` for the driver to exclude.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.errors import ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.round_control import RoundScope
from fedseal.protocol.round_events import Event, Gone, Received, Record, Step
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.driver_config import DriverConfig

__all__ = ["MAX_UNMASK_THREADS", "MaskingAggregator", "MaskingSession", "unmask_threads"]

#: Most threads a server lends to removing a round's masks (:func:`unmask_threads`).
MAX_UNMASK_THREADS = 8

_BEFORE_MASKING = (ServerStage.ADVERTISE, ServerStage.SHARE, ServerStage.MASKED_INPUT)


class MaskingAggregator:
    """Pairwise-masking secure aggregation: a :class:`MaskingSession` per round."""

    mode = "masking"

    def __init__(
        self,
        config: DriverConfig,
        directory: Mapping[str, IdentityPublicKey],
        *,
        dim: int,
        executor: Executor | None = None,
        parts: int = 1,
    ) -> None:
        self.config = config
        # Threads lent to each round's last step, removing the masks (secagg.masking.unmask_sum).
        self.executor, self.parts = executor, parts
        self.directory = dict(directory)
        self.dim = dim
        self.policy = ClientPolicy(
            corruption=config.corruption,
            dropout=config.dropout,
            full_graph_max=config.full_graph_max,
        )

    def new_round(self, scope: RoundScope, train_digest: bytes) -> MaskingSession:
        """The session of one round."""
        return MaskingSession(self, scope, train_digest)

    def close(self) -> None:
        """Nothing to release."""


class MaskingSession:
    """One round of pairwise masking, sans-IO (see the module docstring)."""

    def __init__(self, setup: MaskingAggregator, scope: RoundScope, train_digest: bytes) -> None:
        self._setup, self._scope, self._train_digest = setup, scope, train_digest
        self.culprits: dict[str, str] = {}
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self.survivors: tuple[str, ...] = ()
        self._session: ServerSession | None = None
        self._ready: frozenset[str] = frozenset()  # membership per event in O(1)
        self._deadline = 0.0
        self._recorded = 0  # session.dropouts already audited
        self._seen: tuple[ServerStage, int] | None = None  # departures already counted out

    @property
    def finished(self) -> bool:
        return self._session is not None and self._session.finished

    @property
    def deadline(self) -> float:
        return self._deadline

    def accept(self, silo: str, message: c.ToServer) -> str | None:
        """Train phase: ``TrainReady`` makes the silo ready; anything else is its dropout."""
        if isinstance(message, c.TrainReady):
            return None
        return f"unexpected {type(message).__name__}"

    def start(self, ready: tuple[str, ...], now: float) -> Step:
        """Open the round's :class:`ServerSession` over ``ready`` and send ``BeginRound``."""
        setup, scope = self._setup, self._scope
        cfg, spec, n = setup.config, setup.config.quantization, len(ready)
        # The same formula every silo checks the proposal against (protocol/policy.py).
        graph = setup.policy.required(n, roster_size=cfg.roster_size or len(setup.directory))
        params = m.RoundParams(
            cfg.deployment_id, scope.round_id, ready, graph.kind, graph.k, graph.threshold,
            spec.encoded_length(setup.dim), spec.modulus_bits,
        )  # fmt: skip
        started = Record(ev.ROUND_STARTED, details=dict(
            n=n, t=graph.threshold, k=graph.k, bits=spec.bits, graph=graph.kind.value,
            participants=list(ready), aggregation=setup.mode,
        ))  # fmt: skip
        self._session = session = ServerSession(
            params, {s: setup.directory[s] for s in ready}, train_digest=self._train_digest,
            executor=setup.executor, parts=setup.parts,
        )  # fmt: skip
        self._ready = frozenset(ready)
        self._deadline = now + cfg.stage_timeout_s
        step = Step(records=[started])
        self._process(step, session.start(), session.stage, now)
        return self._settle(step, now)

    def handle(self, event: Event | None, now: float) -> Step:
        session = self._session
        assert session is not None, "start() comes first"
        stage, out = session.stage, []
        if event is None:
            out = session.close_stage()
        elif isinstance(event, Received) and event.silo in self._ready:
            message: Any = event.message  # any other type is the session's to refuse
            if not isinstance(message, c.CheckpointCosign):
                out = session.receive(event.silo, message)
        elif isinstance(event, Gone) and event.silo in self._ready:
            self._scope.departed.setdefault(event.silo, event.reason)  # counted out below
        step = Step()
        self._process(step, out, stage, now)
        return self._settle(step, now)

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        raise ProtocolViolation("the masking session asks for no work")

    def _settle(self, step: Step, now: float) -> Step:
        """Silos gone since they last answered will not answer this stage: out now.

        O(n) once per stage and per new departure (the stage may advance here, and the next
        one is checked again).
        """
        session, departed = self._session, self._scope.departed
        assert session is not None
        while not session.finished and departed and self._seen != (session.stage, len(departed)):
            self._seen = (session.stage, len(departed))
            stage, out = session.stage, []
            for silo in sorted(set(departed) & session.waiting_for):
                notice = m.AbortRound(self._setup.config.deployment_id, self._scope.round_id,
                                      departed[silo])  # fmt: skip
                out += session.receive(silo, notice)
            if not out:
                break
            self._process(step, out, stage, now)
        return step

    def _process(self, step: Step, out: list[tuple[str, m.Message]], stage: ServerStage,
                 now: float) -> None:  # fmt: skip
        session = self._session
        assert session is not None
        # Audit first, then send: the records come before the messages in the step.
        for d in session.dropouts[self._recorded :]:
            step.records.append(self._scope.drop(d.silo, d.stage.value, d.reason))
        self._recorded = len(session.dropouts)
        if session.stage is not stage:
            step.records += _stage_records(stage, session)
            self._deadline = now + self._stage_time(session.stage)
        step.send += out
        if session.finished:
            lost = {d.silo for d in session.dropouts if d.stage in _BEFORE_MASKING}
            self.survivors = tuple(s for s in session.params.participants if s not in lost)
            self.culprits = dict(session.culprits)
            self.result = session.result
            if session.result is None:
                self.abort_reason = session.abort_reason or "secure aggregation failed"

    def _stage_time(self, stage: ServerStage) -> float:
        # Silos train between the shares' delivery and their masked input: that stage gets
        # the training budget on top of the stage budget.
        cfg = self._setup.config
        if stage is ServerStage.MASKED_INPUT:
            return cfg.train_timeout_s + cfg.stage_timeout_s
        return cfg.stage_timeout_s


def _stage_records(closed: ServerStage, session: ServerSession) -> list[Record]:
    active = len(session.params.participants) - len(session.dropouts)
    if closed is ServerStage.ADVERTISE:
        return [Record(ev.KEYS_ADVERTISED, details={"count": active})]
    if closed is ServerStage.SHARE:
        return [Record(ev.SHARES_ROUTED, details={"count": active})]
    if closed is ServerStage.CONSISTENCY:
        passed = active >= session.params.threshold
        return [Record(ev.CONSISTENCY_RESULT, details={"passed": passed, "signers_count": active})]
    return []


def unmask_threads() -> tuple[ThreadPoolExecutor, int]:
    """Threads for the last step of masking rounds (removing the masks), and how many.

    The machine's cores, up to :data:`MAX_UNMASK_THREADS`; they start when first used. The
    caller lends them to :class:`MaskingAggregator` (or a ``ServerSession``) and shuts them down.
    """
    parts = min(os.cpu_count() or 1, MAX_UNMASK_THREADS)
    return ThreadPoolExecutor(parts, thread_name_prefix="fedseal-unmask"), parts
