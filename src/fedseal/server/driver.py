"""The coordinator's round driver: FedAvg rounds of train -> SecAgg -> attest, over any transport.

Theory of operation
-------------------
The transport (:mod:`fedseal.server.grpc_server`) authenticates each silo from its certificate
and reports four kinds of event to :class:`RoundDriver`: a silo connected (with a :class:`Link`
to send it messages), disconnected, sent a decoded message, or sent something malformed. All
events go through one ``asyncio.Queue`` and are handled one at a time by :meth:`RoundDriver.run`,
so the sans-IO :class:`~fedseal.protocol.server.ServerSession` is never entered concurrently.

A round (``protocol/control.py`` describes its messages):

1. the round id is made durable (:class:`~fedseal.server.state.ServerState`), then every connected
   silo gets a ``TrainRequest``; answers are collected until ``train_timeout_s``;
2. the silos that answered ``TrainReady`` (in masking mode: ready to join; they train only
   once the shares are delivered, so the masked-input stage gets ``train_timeout_s`` on top)
   run the five SecAgg stages; a stage closes when all answered or after ``stage_timeout_s``,
   a disconnect or a malformed message makes that silo a dropout of the stage
   (``aggregation = "paillier"`` multiplies the silos' encrypted inputs as
   they arrive and has the contributors decrypt the sum, :mod:`fedseal.server.paillier_round`;
   ``aggregation = "none"`` sums ``PlaintextInput`` instead: insecure);
3. the decoded sum moves the global model (:class:`~fedseal.server.strategy.FedAvg`), the model
   is persisted, and the server's signed audit checkpoint is sent to the silos to co-sign.

Every loop is bounded by a deadline; a round that cannot reach its threshold is aborted and
the next round starts with a fresh id and fresh keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.log import AuditLog
from fedseal.errors import AggregateIntegrityError, ConfigError, FedsealError, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.rounds import DriverConfig, Link, RoundSummary, summary_line
from fedseal.server.state import ServerState
from fedseal.server.strategy import FedAvg

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator, PaillierRound

__all__ = ["DriverConfig", "Link", "RoundDriver", "RoundSummary", "summary_line"]

log = logging.getLogger("fedseal.server")

_BEFORE_MASKING = (ServerStage.ADVERTISE, ServerStage.SHARE, ServerStage.MASKED_INPUT)
_MAX_ATTEMPTS_PER_ROUND = 3


class RoundDriver:
    """Runs the deployment's rounds. See the module docstring.

    Parameters
    ----------
    config : DriverConfig
    directory : mapping of str to IdentityPublicKey
        Identity keys of every admitted silo.
    strategy : FedAvg
        Holds the global model.
    state : ServerState
        Durable round counter and model.
    audit : AuditLog, optional
        The server's audit log (checkpointed at the end of every round).
    on_round : callable, optional
        Called with each :class:`RoundSummary`.
    clock : callable
        Monotonic seconds (injected for tests).
    paillier : PaillierAggregator, optional
        Required by ``aggregation = "paillier"``: the deployment's public key and layout.
    """

    def __init__(
        self,
        config: DriverConfig,
        *,
        directory: Mapping[str, IdentityPublicKey],
        strategy: FedAvg,
        state: ServerState,
        audit: AuditLog | None = None,
        on_round: Callable[[RoundSummary], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        paillier: PaillierAggregator | None = None,
    ) -> None:
        if config.aggregation == "paillier" and paillier is None:
            raise ConfigError("aggregation = 'paillier' needs the deployment's Paillier key")
        self.config = config
        self._paillier = paillier
        self._directory = dict(directory)
        self.strategy = strategy
        self.state = state
        self._audit = audit
        self._on_round = on_round
        self._clock = clock
        self._events: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
        self._excluded: dict[str, str] = {}
        self._halt: str | None = None
        self._policy = ClientPolicy(
            corruption=config.corruption,
            dropout=config.dropout,
            full_graph_max=config.full_graph_max,
        )
        self.links: dict[str, Link] = {}

    # -- transport callbacks (called on the event loop) ----------------------------------------

    def connected(self, silo: str, link: Link) -> None:
        """A silo authenticated; a newer connection replaces an older one."""
        old = self.links.get(silo)
        if old is not None:
            old.close("replaced by a newer connection of the same silo")
        self.links[silo] = link
        fingerprint = self._directory[silo].fingerprint() if silo in self._directory else ""
        self._audit_event(ev.PARTY_AUTHENTICATED, None, peer=silo, peer_fingerprint=fingerprint)
        self._events.put_nowait(("connected", silo, None))

    def disconnected(self, silo: str, link: Link) -> None:
        """A silo's connection ended."""
        if self.links.get(silo) is link:
            del self.links[silo]
            self._events.put_nowait(("gone", silo, "disconnected"))

    def received(self, silo: str, message: c.ToServer) -> None:
        """A silo sent a well-formed message."""
        self._events.put_nowait(("message", silo, message))

    def rejected(self, silo: str, reason: str) -> None:
        """A silo sent something malformed; the transport closes its connection."""
        self._events.put_nowait(("gone", silo, f"malformed message: {reason}"))

    # -- the rounds ----------------------------------------------------------------------------

    async def run(self) -> list[RoundSummary]:
        """Run rounds until ``config.rounds`` have completed; returns their summaries."""
        summaries: list[RoundSummary] = []
        budget = self.config.rounds * _MAX_ATTEMPTS_PER_ROUND
        while self.state.completed < self.config.rounds:
            if budget == 0:
                raise RoundAbortedError("too many rounds failed; stopping (see the audit log)")
            budget -= 1
            await self._wait_for_silos()
            summary = await self._round()
            summaries.append(summary)
            if self._on_round is not None:
                self._on_round(summary)
            if self._halt is not None:
                for link in list(self.links.values()):
                    link.send(c.Finish(self.config.deployment_id, "integrity failure"))
                raise RoundAbortedError(self._halt)
        for link in list(self.links.values()):
            link.send(c.Finish(self.config.deployment_id, "training complete"))
        return summaries

    async def _next_event(self, deadline: float) -> tuple[str, str, Any] | None:
        timeout = deadline - self._clock()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None

    async def _wait_for_silos(self) -> None:
        deadline = self._clock() + self.config.connect_timeout_s
        while len(self.links) < len(self._directory):
            if await self._next_event(deadline) is None:
                break
        if len(self.links) < self.config.min_silos:
            raise RoundAbortedError(
                f"only {len(self.links)} silos connected within "
                f"{self.config.connect_timeout_s:g} s; min_participants is {self.config.min_silos}"
            )

    def _audit_event(
        self, event: str, round_id: int | None, outcome: str = ev.SUCCESS, **details: Any
    ) -> None:
        if self._audit is not None:
            self._audit.append(event, round=round_id, outcome=outcome, details=details)

    def _drop(self, summary: RoundSummary, silo: str, stage: str, reason: str) -> None:
        summary.dropouts.append({"silo": silo, "stage": stage, "reason": reason})
        self._audit_event(
            ev.DROPOUT, summary.round_id, ev.FAILURE, silo=silo, stage=stage, reason=reason
        )

    async def _round(self) -> RoundSummary:
        start = self._clock()
        round_id = self.state.begin_round()
        joined = (s for s in sorted(self.links) if s not in self._excluded)
        summary = RoundSummary(round_id, participants=tuple(joined))
        paillier = None
        if self._paillier is not None and self.config.aggregation == "paillier":
            paillier = self._paillier.new_round(round_id)
        try:
            contributions = await self._train(summary, paillier)
            if self.config.aggregation == "masking":
                total = await self._secure_aggregate(summary)
            elif paillier is not None:
                total = await self._paillier_aggregate(summary, paillier)
            else:
                total = contributions
            decoded = self.config.quantization.decode_sum(
                total, dim=self.strategy.dim, contributors=len(summary.survivors)
            )
        except AggregateIntegrityError as exc:
            self._audit_event(
                ev.AGGREGATE_REJECTED, round_id, ev.FAILURE, reason=str(exc)[:300],
                aggregate_sha256=hashlib.sha256(np.ascontiguousarray(total).tobytes()).hexdigest(),
                silos_count=len(summary.survivors),
            )  # fmt: skip
            # The sum was released, so every silo that answered will refuse this model again
            # (no differencing on one model): no retry can succeed. Stop, loudly.
            self._halt = (
                f"round {round_id}: the aggregate failed the integrity check ({exc}); the model "
                "was not updated and the silos will not contribute again on it. A silo sent an "
                "out-of-range contribution or the aggregate was tampered with: investigate the "
                "audit logs, revoke the silo responsible, and restart from a new model "
                "(docs/deployment.md, 'Integrity failure')"
            )
            return self._failed(summary, start, f"aggregate rejected, model unchanged: {exc}")
        except (RoundAbortedError, FedsealError) as exc:
            return self._failed(summary, start, str(exc))
        summary.metrics = self.strategy.apply(decoded)
        self.state.finish_round(self.strategy.weights)
        summary.completed = True
        self._audit_event(
            ev.AGGREGATE_RELEASED,
            round_id,
            aggregate_sha256=hashlib.sha256(np.ascontiguousarray(total).tobytes()).hexdigest(),
            silos_count=len(summary.survivors),
        )
        self._audit_event(
            ev.ROUND_FINISHED,
            round_id,
            participants=list(summary.survivors),
            dropouts=[d["silo"] for d in summary.dropouts],
        )
        await self._attest(round_id, summary.survivors)
        summary.seconds = self._clock() - start
        return summary

    def _failed(self, summary: RoundSummary, start: float, reason: str) -> RoundSummary:
        summary.reason = reason
        self._audit_event(ev.ROUND_FINISHED, summary.round_id, ev.FAILURE, reason=reason[:500],
                          participants=list(summary.participants),
                          dropouts=[d["silo"] for d in summary.dropouts])  # fmt: skip
        log.warning("round %d aborted: %s", summary.round_id, reason)
        summary.seconds = self._clock() - start
        return summary

    async def _train(
        self, summary: RoundSummary, paillier: PaillierRound | None
    ) -> npt.NDArray[Any]:
        cfg, spec = self.config, self.config.quantization
        request = c.TrainRequest(
            cfg.deployment_id, summary.round_id, self.strategy.weights, cfg.aggregation, spec
        )
        summary.train_digest = request.digest()
        for silo in summary.participants:
            self.links[silo].send(request)
        pending, ready = set(summary.participants), []
        total = np.zeros(spec.encoded_length(self.strategy.dim), dtype=spec.dtype)
        deadline = self._clock() + cfg.train_timeout_s
        while pending:
            event = await self._next_event(deadline)
            if event is None:
                for silo in sorted(pending):
                    self._drop(summary, silo, "train", "timed out")
                break
            kind, silo, payload = event
            if silo not in pending or kind == "connected":
                continue
            if kind == "message" and getattr(payload, "round_id", None) != summary.round_id:
                continue  # a late answer to an earlier round
            pending.discard(silo)
            if kind == "gone":
                self._drop(summary, silo, "train", payload)
            elif isinstance(payload, c.Abstain):
                self._drop(summary, silo, "train", f"abstained: {payload.reason[:200]}")
            elif isinstance(payload, c.TrainReady) and cfg.aggregation == "masking":
                ready.append(silo)
            elif isinstance(payload, c.PaillierInput) and paillier is not None:
                try:
                    # Its proof check takes a fraction of a second: off the event loop, so the
                    # transport keeps serving; inputs are still added one at a time.
                    await asyncio.to_thread(paillier.add_input, silo, payload)
                except FedsealError as exc:
                    self._drop(summary, silo, "train", f"invalid Paillier input: {exc}")
                    continue
                ready.append(silo)
            elif isinstance(payload, c.PlaintextInput) and cfg.aggregation == "none":
                v = payload.vector
                if v.dtype != np.dtype(spec.dtype) or v.shape != total.shape:
                    self._drop(summary, silo, "train", "plaintext input of wrong shape or dtype")
                    continue
                np.add(total, v, out=total)
                ready.append(silo)
            else:
                self._drop(summary, silo, "train", f"unexpected {type(payload).__name__}")
        summary.ready = summary.survivors = tuple(sorted(ready))
        if len(ready) < cfg.min_silos:
            raise RoundAbortedError(
                f"only {len(ready)} silos ready; min_participants is {cfg.min_silos}"
            )
        return total

    async def _secure_aggregate(self, summary: RoundSummary) -> npt.NDArray[Any]:
        cfg, spec, ready = self.config, self.config.quantization, summary.ready
        n = len(ready)
        # The same formula every silo checks the proposal against (protocol/policy.py).
        graph = self._policy.required(n, roster_size=cfg.roster_size or len(self._directory))
        params = m.RoundParams(
            cfg.deployment_id, summary.round_id, ready, graph.kind, graph.k, graph.threshold,
            spec.encoded_length(self.strategy.dim), spec.modulus_bits,
        )  # fmt: skip
        self._audit_event(
            ev.ROUND_STARTED, summary.round_id, n=n, t=graph.threshold, k=graph.k,
            bits=spec.bits, graph=graph.kind.value, participants=list(ready),
            aggregation=cfg.aggregation,
        )  # fmt: skip
        session = ServerSession(
            params, {s: self._directory[s] for s in ready}, train_digest=summary.train_digest
        )
        dropped_before = len(summary.dropouts)
        self._dispatch(session.start())
        stage, deadline = session.stage, self._clock() + cfg.stage_timeout_s
        while not session.finished:
            event = await self._next_event(deadline)
            if event is None:
                out = session.close_stage()
            else:
                kind, silo, payload = event
                if (
                    kind == "message"
                    and silo in ready
                    and not isinstance(payload, c.CheckpointCosign)
                ):
                    out = session.receive(silo, payload)
                elif kind == "gone" and silo in ready:
                    notice = m.AbortRound(cfg.deployment_id, summary.round_id, payload)
                    out = session.receive(silo, notice)
                else:
                    out = []
            # Audit first, then send: an entry is durable before what it records is acted on.
            for d in session.dropouts[len(summary.dropouts) - dropped_before :]:
                self._drop(summary, d.silo, d.stage.value, d.reason)
            if session.stage is not stage:
                self._audit_stage(summary.round_id, stage, session)
                stage, deadline = session.stage, self._clock() + self._stage_time(session.stage)
            self._dispatch(out)
        lost = {d.silo for d in session.dropouts if d.stage in _BEFORE_MASKING}
        summary.survivors = tuple(s for s in ready if s not in lost)
        for silo, reason in sorted(session.culprits.items()):
            # Proven (a share that fails its commitment) or found (shares its neighbours
            # rejected) to misbehave: left out of every later round of this server process.
            self._excluded[silo] = reason
            log.error("round %d: excluding silo %s: %s", summary.round_id, silo, reason)
            self._audit_event(
                ev.SILO_EXCLUDED, summary.round_id, ev.FAILURE, silo=silo, reason=reason[:300]
            )
        if session.result is None:
            raise RoundAbortedError(session.abort_reason or "secure aggregation failed")
        return session.result

    async def _paillier_aggregate(
        self, summary: RoundSummary, paillier: PaillierRound
    ) -> npt.NDArray[Any]:
        from fedseal.server.paillier_round import RoundIO, decrypt_round

        cfg, key = self.config, paillier.setup.key.public_key
        self._audit_event(
            ev.ROUND_STARTED, summary.round_id, n=len(summary.ready), t=key.threshold,
            bits=cfg.quantization.bits, key_bits=key.key_bits, participants=list(summary.ready),
            aggregation=cfg.aggregation,
        )  # fmt: skip
        io = RoundIO(
            next_event=self._next_event,
            send=self._send,
            drop=lambda silo, stage, reason: self._drop(summary, silo, stage, reason),
            clock=self._clock,
        )
        total, decryption = await decrypt_round(io, paillier, timeout_s=cfg.stage_timeout_s)
        log.info(
            "round %d: %d contributions decrypted with the partials of %s",
            summary.round_id, len(paillier.contributors), list(decryption.used),
        )  # fmt: skip
        return total

    def _stage_time(self, stage: ServerStage) -> float:
        # Silos train between the shares' delivery and their masked input (so that a round
        # that fails in stages 0-1 costs them no privacy budget): that stage gets both budgets.
        cfg = self.config
        if stage is ServerStage.MASKED_INPUT:
            return cfg.train_timeout_s + cfg.stage_timeout_s
        return cfg.stage_timeout_s

    def _audit_stage(self, round_id: int, closed: ServerStage, session: ServerSession) -> None:
        active = len(session.params.participants) - len(session.dropouts)
        if closed is ServerStage.ADVERTISE:
            self._audit_event(ev.KEYS_ADVERTISED, round_id, count=active)
        elif closed is ServerStage.SHARE:
            self._audit_event(ev.SHARES_ROUTED, round_id, count=active)
        elif closed is ServerStage.CONSISTENCY:
            self._audit_event(
                ev.CONSISTENCY_RESULT,
                round_id,
                passed=active >= session.params.threshold,
                signers_count=active,
            )

    def _send(self, silo: str, message: c.ToSilo) -> None:
        link = self.links.get(silo)
        if link is not None:
            link.send(message)

    def _dispatch(self, outbox: list[tuple[str, m.Message]]) -> None:
        for silo, message in outbox:
            self._send(silo, message)  # type: ignore[arg-type]

    async def _attest(self, round_id: int, silos: tuple[str, ...]) -> None:
        if self._audit is None:
            return
        checkpoint = self._audit.checkpoint(round=round_id)
        blob = canonical_bytes(checkpoint.to_record())
        request = c.CheckpointRequest(self.config.deployment_id, round_id, blob)
        pending = {s for s in silos if s in self.links}
        for silo in sorted(pending):
            self.links[silo].send(request)
        deadline = self._clock() + self.config.checkpoint_timeout_s
        while pending:
            event = await self._next_event(deadline)
            if event is None:
                log.warning("round %d: no co-signature from %s", round_id, sorted(pending))
                return
            kind, silo, payload = event
            if silo not in pending:
                continue
            if kind == "gone":
                pending.discard(silo)
            elif isinstance(payload, c.CheckpointCosign) and payload.round_id == round_id:
                pending.discard(silo)
                try:
                    self._audit.record_cosignature(
                        checkpoint, self._directory[silo], payload.signature
                    )
                except FedsealError as exc:
                    log.warning("round %d: bad co-signature from %s: %s", round_id, silo, exc)
