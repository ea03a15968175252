"""The coordinator's round driver: a pump over the sans-IO round sessions, over any transport.

Theory of operation
-------------------
The transport (:mod:`fedseal.server.grpc_server`) authenticates each silo and calls the
driver's :class:`~fedseal.server.connections.Connections` half, which turns connections,
messages and disconnections into typed events in one queue. A round is a
:class:`~fedseal.protocol.round_control.RoundControl` (train -> aggregate(mode) -> release ->
attest) over the aggregation mode's session from the registry
:func:`~fedseal.server.aggregators.make_aggregator`; both are sans-IO. The driver only pumps:

1. make the round id durable (:class:`~fedseal.server.state.ServerState`) and build the
   ``TrainRequest`` from the strategy (:func:`~fedseal.server.train_phase.train_request`);
2. perform each :class:`~fedseal.protocol.round_events.Step` the session returns -- append its
   audit records, *then* send its messages, then run its work one piece at a time (off the
   event loop when it is CPU-bound) and hand the result back -- and feed the session the next
   event, or ``None`` at its deadline, until it stops waiting;
3. exclude the silos the mode found misbehaving, release the aggregate
   (:func:`~fedseal.server.release.release`: decode, integrity check, strategy, durable model,
   audit) and pump the attest phase (:mod:`fedseal.server.attestation`).

Every loop is bounded by a deadline or a step count; a round that cannot reach its threshold is
aborted and the next round starts with a fresh id and fresh keys.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.errors import AggregateIntegrityError, FedsealError, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol.round_control import Phase, RoundControl, RoundScope
from fedseal.protocol.round_events import Step, Work
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.admission import Admission
from fedseal.server.aggregators import make_aggregator
from fedseal.server.attestation import checkpoint_request, record_cosign
from fedseal.server.connections import Connections
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import Link
from fedseal.server.release import integrity_halt, release
from fedseal.server.state import ServerState
from fedseal.server.strategy import Strategy
from fedseal.server.summary import RoundSummary, summary_line
from fedseal.server.train_phase import model_mismatch, train_request

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["DriverConfig", "Link", "RoundDriver", "RoundSummary", "summary_line"]

log = logging.getLogger("fedseal.server")

_MAX_ATTEMPTS_PER_ROUND = 3
_MAX_STEPS = 10_000_000  # every loop is bounded; a round of 1,000 silos takes ~10^4 steps


class RoundDriver(Connections):
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
    threads : (Executor, int), optional
        Threads (and how many) the masking mode may use to remove a round's masks; the
        caller owns them.
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
        threads: tuple[Executor, int] | None = None,
    ) -> None:
        admission = Admission(
            deployment_id=config.deployment_id, dim=strategy.dim, state_dir=state.dir,
            roster=roster or {s: k.to_bytes().hex() for s, k in directory.items()},
        )  # fmt: skip
        super().__init__(config, directory, admission, audit, clock)
        self._aggregator = make_aggregator(
            config, directory, dim=strategy.dim, paillier=paillier, threads=threads
        )
        self.strategy = strategy
        self.state = state
        self._on_round = on_round
        self._halt: str | None = None

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
            await self.wait_for_silos()
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

    async def _round(self) -> RoundSummary:
        start = self._clock()
        round_id = self.state.begin_round()
        participants = tuple(s for s in sorted(self.links) if s not in self._excluded)
        request = train_request(self.config, self.strategy, round_id)
        scope = RoundScope(round_id)
        summary = RoundSummary(round_id, participants, dropouts=scope.dropouts,
                               train_digest=request.digest())  # fmt: skip
        cfg = self.config
        control = RoundControl(
            scope, participants, self._aggregator.new_round(scope, summary.train_digest),
            min_silos=cfg.min_silos, train_timeout_s=cfg.train_timeout_s,
            checkpoint_timeout_s=cfg.checkpoint_timeout_s,
        )  # fmt: skip
        try:
            try:
                await self._drive(control, control.start(request, self._clock()))
            finally:
                self._exclude(round_id, control.mode.culprits)
                summary.ready, summary.survivors = control.ready, control.survivors
            if control.phase is Phase.FAILED:
                return self._failed(summary, start, control.reason or "aborted")
            total = control.mode.result
            assert total is not None, "a round past aggregation has its sum"
            release(total, summary, config=cfg, strategy=self.strategy, state=self.state,
                    audit=self._audit_event)  # fmt: skip
        except AggregateIntegrityError as exc:
            self._halt = integrity_halt(round_id, exc)
            return self._failed(summary, start, f"aggregate rejected, model unchanged: {exc}")
        except (RoundAbortedError, FedsealError) as exc:
            return self._failed(summary, start, str(exc))
        await self._attest(control)
        summary.seconds = self._clock() - start
        return summary

    async def _drive(self, control: RoundControl, step: Step) -> None:
        """The pump: perform each step (records, then messages), run its work one piece at a
        time, and feed the session events until it stops waiting."""
        work: deque[Work] = deque()
        for _ in range(_MAX_STEPS):
            for record in step.records:
                self._audit_event(record.event, control.scope.round_id, record.outcome,
                                  **record.details)  # fmt: skip
            for silo, message in step.send:
                self._send(silo, message)
            work.extend(step.work)
            if work:
                item = work.popleft()
                step = control.computed(item.key, await _run(item), self._clock())
            elif control.waiting:
                event = await self._next_event(control.deadline)
                step = control.handle(event, self._clock())
            else:
                return
        raise RoundAbortedError(f"round {control.scope.round_id} took over {_MAX_STEPS} steps")

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

    async def _attest(self, control: RoundControl) -> None:
        if self._audit is None:
            control.finish()
            return
        round_id = control.scope.round_id
        checkpoint, request = checkpoint_request(self._audit, round_id, self.config.deployment_id)
        record = functools.partial(
            record_cosign, self._audit, checkpoint, round_id, directory=self._directory,
            state_dir=self.state.dir,
        )  # fmt: skip
        await self._drive(control, control.attest(request, record, frozenset(self.links),
                                                  self._clock()))  # fmt: skip
        if control.silent:
            log.warning("round %d: no co-signature from %s", round_id, control.silent)


async def _run(work: Work) -> Any:
    """Run ``work`` (on a worker thread if it asks to be offloaded); its exception is its result."""
    try:
        return await asyncio.to_thread(work.run) if work.offload else work.run()
    except Exception as exc:  # handed to the session, which decides what it means
        return exc
