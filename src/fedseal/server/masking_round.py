"""The coordinator's side of ``aggregation = "masking"``: the five SecAgg stages of one round.

Silos answer the ``TrainRequest`` with ``TrainReady`` (they train only once their shares are
delivered, so a round that fails in stages 0-1 costs them no privacy budget). The ready silos
then run the stages of :class:`~fedseal.protocol.server.ServerSession` (Bonawitz et al., CCS
2017, with the SecAgg+ graph of Bell et al., CCS 2020): a stage closes when every awaited silo
answered or after ``stage_timeout_s`` (the masked-input stage also gets ``train_timeout_s``); a
disconnect is the silo's ``AbortRound``, in the stage it happens in or, for a silo that had
already answered that stage (or the train phase), in the next stage that awaits it
(``RoundIO.departed``). Dropouts are audited before anything the session returns is sent.
Silos the session proves or finds misbehaving are reported in
:attr:`MaskingAggregator.culprits` for the driver to exclude.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.errors import RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import Event, Gone, Received, RoundIO
from fedseal.server.summary import RoundSummary

__all__ = ["MaskingAggregator"]

_BEFORE_MASKING = (ServerStage.ADVERTISE, ServerStage.SHARE, ServerStage.MASKED_INPUT)


class MaskingAggregator:
    """Pairwise-masking secure aggregation, one :class:`ServerSession` per round."""

    mode = "masking"

    def __init__(
        self, config: DriverConfig, directory: Mapping[str, IdentityPublicKey], *, dim: int
    ) -> None:
        self.config = config
        self._directory = dict(directory)
        self._dim = dim
        self._policy = ClientPolicy(
            corruption=config.corruption,
            dropout=config.dropout,
            full_graph_max=config.full_graph_max,
        )
        self.culprits: dict[str, str] = {}

    def begin(self, round_id: int) -> None:
        """A new round: nothing is kept from the last one."""
        self.culprits = {}

    async def accept(self, silo: str, message: c.ToServer) -> str | None:
        """Train phase: ``TrainReady`` makes the silo ready; anything else is its dropout."""
        if isinstance(message, c.TrainReady):
            return None
        return f"unexpected {type(message).__name__}"

    async def aggregate(self, io: RoundIO, summary: RoundSummary) -> npt.NDArray[Any]:
        """Run the SecAgg stages over ``summary.ready``; return the masked sum, unmasked."""
        cfg, spec, ready = self.config, self.config.quantization, summary.ready
        n = len(ready)
        # The same formula every silo checks the proposal against (protocol/policy.py).
        graph = self._policy.required(n, roster_size=cfg.roster_size or len(self._directory))
        params = m.RoundParams(
            cfg.deployment_id, summary.round_id, ready, graph.kind, graph.k, graph.threshold,
            spec.encoded_length(self._dim), spec.modulus_bits,
        )  # fmt: skip
        io.audit(
            ev.ROUND_STARTED, n=n, t=graph.threshold, k=graph.k, bits=spec.bits,
            graph=graph.kind.value, participants=list(ready), aggregation=self.mode,
        )  # fmt: skip
        session = ServerSession(
            params, {s: self._directory[s] for s in ready}, train_digest=summary.train_digest
        )
        recorded = 0
        self._send(io, session.start())
        stage, deadline = session.stage, io.clock() + cfg.stage_timeout_s
        members = frozenset(ready)  # membership per event in O(1), not a scan of n names
        seen: tuple[ServerStage, int] | None = None  # departures already counted out
        while not session.finished:
            out = []
            if io.departed and seen != (session.stage, len(io.departed)):
                # O(n): once per stage and per new departure (the stage may advance here,
                # and the next one is checked again).
                seen = (session.stage, len(io.departed))
                out = self._departed(io, session)
            if not out and not session.finished:
                out = self._handle(io, session, members, await io.next_event(deadline))
            # Audit first, then send: an entry is durable before what it records is acted on.
            for d in session.dropouts[recorded:]:
                io.drop(d.silo, d.stage.value, d.reason)
            recorded = len(session.dropouts)
            if session.stage is not stage:
                _audit_stage(io, stage, session)
                stage, deadline = session.stage, io.clock() + self._stage_time(session.stage)
            self._send(io, out)
        lost = {d.silo for d in session.dropouts if d.stage in _BEFORE_MASKING}
        summary.survivors = tuple(s for s in ready if s not in lost)
        self.culprits = dict(session.culprits)
        if session.result is None:
            raise RoundAbortedError(session.abort_reason or "secure aggregation failed")
        return session.result

    def _departed(self, io: RoundIO, session: ServerSession) -> list[tuple[str, m.Message]]:
        """Silos gone since they last answered will not answer this stage: out now."""
        out: list[tuple[str, m.Message]] = []
        for silo in sorted(set(io.departed) & session.waiting_for):
            notice = m.AbortRound(self.config.deployment_id, io.round_id, io.departed[silo])
            out += session.receive(silo, notice)
        return out

    @staticmethod
    def _handle(
        io: RoundIO, session: ServerSession, ready: frozenset[str], event: Event | None
    ) -> list[tuple[str, m.Message]]:
        if event is None:
            return session.close_stage()
        if isinstance(event, Received) and event.silo in ready:
            message: Any = event.message  # any other type is the session's to refuse
            if not isinstance(message, c.CheckpointCosign):
                return session.receive(event.silo, message)
        elif isinstance(event, Gone) and event.silo in ready:
            io.departed.setdefault(event.silo, event.reason)  # counted out by _departed
        return []

    def _stage_time(self, stage: ServerStage) -> float:
        # Silos train between the shares' delivery and their masked input: that stage gets
        # the training budget on top of the stage budget.
        cfg = self.config
        if stage is ServerStage.MASKED_INPUT:
            return cfg.train_timeout_s + cfg.stage_timeout_s
        return cfg.stage_timeout_s

    @staticmethod
    def _send(io: RoundIO, outbox: list[tuple[str, m.Message]]) -> None:
        for silo, message in outbox:
            io.send(silo, message)  # type: ignore[arg-type]

    def close(self) -> None:
        """Nothing to release."""


def _audit_stage(io: RoundIO, closed: ServerStage, session: ServerSession) -> None:
    active = len(session.params.participants) - len(session.dropouts)
    if closed is ServerStage.ADVERTISE:
        io.audit(ev.KEYS_ADVERTISED, count=active)
    elif closed is ServerStage.SHARE:
        io.audit(ev.SHARES_ROUTED, count=active)
    elif closed is ServerStage.CONSISTENCY:
        io.audit(
            ev.CONSISTENCY_RESULT,
            passed=active >= session.params.threshold,
            signers_count=active,
        )
