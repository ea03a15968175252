"""The coordinator's round driver: FedAvg rounds of train -> SecAgg -> attest, over any transport.

Theory of operation
-------------------
The transport (:mod:`fedseal.server.grpc_server`) authenticates each silo from its certificate
and reports to :class:`RoundDriver` that a silo connected (with a :class:`Link` to send it
messages), disconnected, sent a decoded message, or sent something malformed. These become the
typed events of :mod:`fedseal.server.events`, go through one ``asyncio.Queue`` and are handled
one at a time, so no sans-IO session is ever entered concurrently. The aggregation mode is a
:class:`~fedseal.server.aggregators.ServerAggregator` from the registry
:func:`~fedseal.server.aggregators.make_aggregator`.

A round (``protocol/control.py`` describes its messages):

1. the round id is made durable (:class:`~fedseal.server.state.ServerState`), then every connected
   silo gets a ``TrainRequest``; answers are collected until ``train_timeout_s``
   (:mod:`fedseal.server.train_phase`);
2. the silos that answered ``TrainReady`` (in masking mode: ready to join; they train only
   once the shares are delivered, so the masked-input stage gets ``train_timeout_s`` on top)
   run the five SecAgg stages; a stage closes when all answered or after ``stage_timeout_s``,
   a disconnect or a malformed message makes that silo a dropout of the stage
   (``aggregation = "paillier"`` multiplies the silos' encrypted inputs as
   they arrive and has the contributors decrypt the sum, :mod:`fedseal.server.paillier_round`;
   ``aggregation = "none"`` sums ``PlaintextInput`` instead: insecure);
3. the decoded sum moves the global model (a :class:`~fedseal.server.strategy.Strategy`: FedAvg,
   FedProx or an adaptive server optimizer, which also chose the round's config in step 1), the
   model and the strategy's state are persisted, and the server's signed audit checkpoint is
   sent to the silos to co-sign.

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
from fedseal.audit.log import AuditLog
from fedseal.errors import AggregateIntegrityError, FedsealError, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol.hello import Hello
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.admission import Admission, Refusal
from fedseal.server.aggregators import make_aggregator
from fedseal.server.attestation import attest
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import Connected, Event, Gone, Link, Received, RoundIO
from fedseal.server.state import ServerState
from fedseal.server.strategy import Strategy
from fedseal.server.summary import RoundSummary, summary_line
from fedseal.server.train_phase import model_mismatch, train

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["DriverConfig", "Link", "RoundDriver", "RoundSummary", "summary_line"]

log = logging.getLogger("fedseal.server")

_MAX_ATTEMPTS_PER_ROUND = 3


class RoundDriver:
    """Runs the deployment's rounds. See the module docstring.

    Parameters
    ----------
    config : DriverConfig
    directory : mapping of str to IdentityPublicKey
        Identity keys of every admitted silo.
    strategy : Strategy
        Holds the global model; configures each round and applies its decoded sum.
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
    roster : mapping of str to str, optional
        Every provisioned silo's identity key (hex), revoked ones included, which each silo's
        ``Hello`` must match (default: ``directory``).
    """

    def __init__(
        self,
        config: DriverConfig,
        *,
        directory: Mapping[str, IdentityPublicKey],
        strategy: Strategy,
        state: ServerState,
        audit: AuditLog | None = None,
        on_round: Callable[[RoundSummary], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        paillier: PaillierAggregator | None = None,
        roster: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._directory = dict(directory)
        self._admission = Admission(
            deployment_id=config.deployment_id, dim=strategy.dim, state_dir=state.dir,
            roster=roster or {s: k.to_bytes().hex() for s, k in self._directory.items()},
        )  # fmt: skip
        self._aggregator = make_aggregator(
            config, self._directory, dim=strategy.dim, paillier=paillier
        )
        self.strategy = strategy
        self.state = state
        self._audit = audit
        self._on_round = on_round
        self._clock = clock
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._excluded: dict[str, str] = {}
        self._absent: set[str] = set()  # away when the last wait for silos ended
        self._halt: str | None = None
        self.links: dict[str, Link] = {}

    # -- transport callbacks (called on the event loop) ----------------------------------------

    def introduce(self, silo: str, hello: Hello) -> Refusal | None:
        """A silo's first message: why it may not join (None: call :meth:`connected`)."""
        refusal = self._admission.check(silo, hello)
        if refusal is not None:
            log.error("refused silo %s: %s", silo, refusal.reason)
            self._audit_event(
                ev.PARTY_AUTHENTICATED, None, ev.REFUSED, peer=silo, reason=refusal.reason[:500]
            )
            self._events.put_nowait(Gone(silo, refusal.reason))  # wakes the wait for silos
        return refusal

    def refused(self, peer: str, reason: str) -> None:
        """The transport refused connections of ``peer`` (a summary, at most once a minute)."""
        self._audit_event(ev.PARTY_AUTHENTICATED, None, ev.REFUSED, peer=peer[:100],
                          reason=reason[:500])  # fmt: skip

    def connected(self, silo: str, link: Link) -> None:
        """A silo authenticated (the transport refuses a second live stream of one silo; should
        one arrive anyway, it replaces the older)."""
        old = self.links.get(silo)
        if old is not None:
            old.close("replaced by a newer connection of the same silo")
        self.links[silo] = link
        fingerprint = self._directory[silo].fingerprint() if silo in self._directory else ""
        self._audit_event(ev.PARTY_AUTHENTICATED, None, peer=silo, peer_fingerprint=fingerprint)
        self._events.put_nowait(Connected(silo))

    def disconnected(self, silo: str, link: Link) -> None:
        """A silo's connection ended."""
        if self.links.get(silo) is link:
            del self.links[silo]
            self._events.put_nowait(Gone(silo, "disconnected"))

    def received(
        self, silo: str, message: c.ToServer, on_taken: Callable[[], None] | None = None
    ) -> None:
        """A silo sent a well-formed message; ``on_taken()`` runs when it leaves the queue."""
        self._events.put_nowait(Received(silo, message, on_taken))

    def rejected(self, silo: str, reason: str) -> None:
        """A silo sent something malformed; the transport closes its connection."""
        self._events.put_nowait(Gone(silo, f"malformed message: {reason}"))

    # -- the rounds ----------------------------------------------------------------------------

    async def run(self) -> list[RoundSummary]:
        """Run rounds until ``config.rounds`` have completed; returns their summaries."""
        summaries: list[RoundSummary] = []
        if self.state.completed >= self.config.rounds:
            log.warning(
                "all %d rounds of this deployment are done (%d completed); to train more, raise "
                "rounds in server.toml and start the server again", self.config.rounds,
                self.state.completed,
            )  # fmt: skip
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
            mismatch = model_mismatch(summary, self.strategy.dim)
            if mismatch is not None:
                raise RoundAbortedError(mismatch)
            if self._halt is not None:
                for link in list(self.links.values()):
                    link.send(c.Finish(self.config.deployment_id, "integrity failure"))
                raise RoundAbortedError(self._halt)
        for link in list(self.links.values()):
            link.send(c.Finish(self.config.deployment_id, "training complete"))
        return summaries

    async def _next_event(self, deadline: float) -> Event | None:
        timeout = deadline - self._clock()
        if timeout <= 0:
            return None
        try:
            event = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(event, Received) and event.on_taken is not None:
            event.on_taken()  # handled before the next await: its budget can go to the next
        return event

    async def _wait_for_silos(self) -> None:
        """Wait up to ``connect_timeout_s`` for every admitted silo; below ``min_silos``, keep
        waiting (naming the missing silos each period) until ``connect_give_up_s`` (0: ever).

        A silo that was away when the last wait ended is not waited for again (it joins the
        round after it reconnects), so one offline silo does not delay every round.
        """
        cfg = self.config
        started = self._clock()
        deadline = started + cfg.connect_timeout_s
        while True:
            eligible = set(self._directory) - set(self._excluded)
            hopeless = self._admission.hopeless(eligible, cfg.min_silos)
            if hopeless is not None:
                raise RoundAbortedError(hopeless)
            awaited = eligible - self._absent - set(self._admission.misfits)
            if awaited <= set(self.links) and len(self.links) >= cfg.min_silos:
                break
            if await self._next_event(deadline) is not None:
                continue
            if len(self.links) >= cfg.min_silos:
                break
            missing = ", ".join(
                f"{s} (refused: its app's model does not fit)" if s in self._admission.misfits
                else s for s in sorted(set(self._directory) - set(self.links))
            )  # fmt: skip
            waited = self._clock() - started
            if cfg.connect_give_up_s and waited >= cfg.connect_give_up_s:
                raise RoundAbortedError(
                    f"only {len(self.links)} silos connected within {waited:.0f} s; "
                    f"min_participants is {cfg.min_silos}; missing: {missing}"
                )
            log.warning(
                "waiting for silos: %d of %d connected, a round needs %d; missing: %s",
                len(self.links), len(self._directory), cfg.min_silos, missing,
            )  # fmt: skip
            deadline = self._clock() + cfg.connect_timeout_s
        self._absent = set(self._directory) - set(self.links)
        if self._absent:
            log.info("starting without %s (not connected)", ", ".join(sorted(self._absent)))

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

    def _io(self, summary: RoundSummary) -> RoundIO:
        def drop(silo: str, stage: str, reason: str) -> None:
            self._drop(summary, silo, stage, reason)

        def audit(event: str, outcome: str = ev.SUCCESS, **details: Any) -> None:
            self._audit_event(event, summary.round_id, outcome, **details)

        return RoundIO(
            round_id=summary.round_id, next_event=self._next_event, send=self._send,
            drop=drop, audit=audit, clock=self._clock,
        )  # fmt: skip

    async def _round(self) -> RoundSummary:
        start = self._clock()
        round_id = self.state.begin_round()
        joined = (s for s in sorted(self.links) if s not in self._excluded)
        summary = RoundSummary(round_id, participants=tuple(joined))
        io, aggregator = self._io(summary), self._aggregator
        aggregator.begin(round_id)
        total: npt.NDArray[Any] | None = None
        try:
            await train(
                io, summary, config=self.config, strategy=self.strategy, links=self.links,
                aggregator=self._aggregator,
            )  # fmt: skip
            try:
                total = await aggregator.aggregate(io, summary)
            finally:
                self._exclude(round_id, aggregator.culprits)
            decoded = self.config.quantization.decode_sum(
                total, dim=self.strategy.dim, contributors=len(summary.survivors)
            )
        except AggregateIntegrityError as exc:
            self._audit_event(
                ev.AGGREGATE_REJECTED, round_id, ev.FAILURE, reason=str(exc)[:300],
                aggregate_sha256=_sha256(total), silos_count=len(summary.survivors),
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
        summary.metrics = self.strategy.aggregate(decoded)
        # The release is durable in the audit log before the model moves (state.py).
        model_sha256 = self.state.stage_model(self.strategy.weights, self.strategy.state())
        self._audit_event(
            ev.AGGREGATE_RELEASED,
            round_id,
            aggregate_sha256=_sha256(total),
            model_sha256=model_sha256,
            silos_count=len(summary.survivors),
        )
        self.state.commit_model()
        summary.completed = True
        self._audit_event(
            ev.ROUND_FINISHED,
            round_id,
            participants=list(summary.survivors),
            dropouts=[d["silo"] for d in summary.dropouts],
        )
        await self._attest(io, summary.survivors)
        summary.seconds = self._clock() - start
        return summary

    def _exclude(self, round_id: int, culprits: Mapping[str, str]) -> None:
        for silo, reason in sorted(culprits.items()):
            # Proven (a share that fails its commitment) or found (shares its neighbours
            # rejected) to misbehave: left out of every later round of this server process.
            self._excluded[silo] = reason
            log.error("round %d: excluding silo %s: %s", round_id, silo, reason)
            self._audit_event(
                ev.SILO_EXCLUDED, round_id, ev.FAILURE, silo=silo, reason=reason[:300]
            )

    def _failed(self, summary: RoundSummary, start: float, reason: str) -> RoundSummary:
        summary.reason = reason
        self._audit_event(ev.ROUND_FINISHED, summary.round_id, ev.FAILURE, reason=reason[:500],
                          participants=list(summary.participants),
                          dropouts=[d["silo"] for d in summary.dropouts])  # fmt: skip
        log.warning("round %d aborted: %s", summary.round_id, reason)
        summary.seconds = self._clock() - start
        return summary

    def _send(self, silo: str, message: c.ToSilo) -> None:
        link = self.links.get(silo)
        if link is not None:
            link.send(message)

    async def _attest(self, io: RoundIO, silos: tuple[str, ...]) -> None:
        if self._audit is not None:
            await attest(
                io, silos, audit=self._audit, links=self.links, directory=self._directory,
                deployment_id=self.config.deployment_id,
                timeout_s=self.config.checkpoint_timeout_s, state_dir=self.state.dir,
            )  # fmt: skip


def _sha256(total: npt.NDArray[Any] | None) -> str:
    data = b"" if total is None else np.ascontiguousarray(total).tobytes()
    return hashlib.sha256(data).hexdigest()
