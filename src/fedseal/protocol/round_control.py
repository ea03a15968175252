"""The coordinator's sans-IO control plane of one round: train, aggregate(mode), release, attest.

:class:`RoundControl` takes the transport's events (``protocol/round_events.py``) and the
results of the work it asked for, and returns :class:`~fedseal.protocol.round_events.Step` s:
audit records first, then messages, then work. It never reads a clock (``now`` comes in), a
socket or a file. Its phases and their only legal moves are one table, ``TRANSITIONS`` (h11's
``_state.py`` style); an exception inside a handler moves it to ``FAILED`` and propagates.

1. ``TRAIN``: the ``TrainRequest`` (made by the pump from the strategy) goes to every
   participant; answers are collected (:class:`~fedseal.protocol.round_events.Collect`) until
   ``train_timeout_s``. An ``Abstain`` is a dropout with its reason; any other answer goes to the
   mode's :meth:`AggregationSession.accept` (None: ready; a string: why not; or work whose
   result is one of those, for a Paillier proof check). Fewer than ``min_silos`` ready: FAILED.
2. ``AGGREGATE``: the mode's session (masking, paillier or none; ``server/aggregators.py``)
   gets every event until it is finished, with a result or an abort reason.
3. ``RELEASE``: the pump decodes the sum, moves the model and audits the release (that is
   durable state, so it is the pump's), then calls :meth:`RoundControl.attest` or
   :meth:`RoundControl.finish`.
4. ``ATTEST``: the server's checkpoint goes to the survivors; each co-signature is handed back
   as work for the pump to record, until ``checkpoint_timeout_s``.

Dropouts of every phase are in :attr:`RoundScope.dropouts` and each is audited (a record in
the step that also carries the messages that act on it).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from fedseal.errors import ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.round_events import (
    TIMED_OUT,
    AggregationSession,
    Collect,
    Event,
    RoundScope,
    Step,
    Work,
)

__all__ = ["TRANSITIONS", "AggregationSession", "Phase", "RoundControl", "RoundScope"]


class Phase(Enum):
    """Where a round is."""

    TRAIN = "train"
    AGGREGATE = "aggregate"
    RELEASE = "release"
    ATTEST = "attest"
    DONE = "done"
    FAILED = "failed"


#: Every legal move of a round; anything else is a bug and raises.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.TRAIN: frozenset({Phase.AGGREGATE, Phase.FAILED}),
    Phase.AGGREGATE: frozenset({Phase.RELEASE, Phase.FAILED}),
    Phase.RELEASE: frozenset({Phase.ATTEST, Phase.DONE, Phase.FAILED}),
    Phase.ATTEST: frozenset({Phase.DONE, Phase.FAILED}),
    Phase.DONE: frozenset(),
    Phase.FAILED: frozenset(),
}


class RoundControl:
    """One round of the coordinator. See the module docstring.

    Parameters
    ----------
    scope : RoundScope
    participants : tuple of str
        The silos asked to train.
    mode : AggregationSession
    min_silos : int
        Ready silos a round needs.
    train_timeout_s, checkpoint_timeout_s : float
    """

    def __init__(
        self,
        scope: RoundScope,
        participants: tuple[str, ...],
        mode: AggregationSession,
        *,
        min_silos: int,
        train_timeout_s: float,
        checkpoint_timeout_s: float,
    ) -> None:
        self.scope, self.participants, self.mode = scope, participants, mode
        self._min_silos = min_silos
        self._train_timeout_s, self._checkpoint_timeout_s = train_timeout_s, checkpoint_timeout_s
        self.phase = Phase.TRAIN
        self.ready: tuple[str, ...] = ()
        #: The ready silos, then the mode's survivors once it finished.
        self.survivors: tuple[str, ...] = ()
        self.reason: str | None = None
        #: Survivors asked to co-sign that did not answer in time.
        self.silent: list[str] = []
        self._collect: Collect | None = None
        self._accepted: list[str] = []
        self._record_cosign: Callable[[str, c.CheckpointCosign], None] | None = None
        self._recording = 0  # co-signatures handed to the pump and not yet recorded

    # -- the pump's view -------------------------------------------------------------------

    @property
    def waiting(self) -> bool:
        """Whether the session waits for events (else the pump acts: release or stop)."""
        if self.phase is Phase.AGGREGATE:
            return not self.mode.finished
        return self.phase in (Phase.TRAIN, Phase.ATTEST)

    @property
    def deadline(self) -> float:
        """When the session wants :meth:`handle` called with ``None``."""
        if self.phase is Phase.AGGREGATE:
            return self.mode.deadline
        assert self._collect is not None
        return self._collect.deadline

    def start(self, request: c.TrainRequest, now: float) -> Step:
        """Send ``request`` to every participant (one object: encoded once by the transport)."""
        self._collect = Collect(
            self.scope.round_id, self.participants, deadline=now + self._train_timeout_s,
            departed=self.scope.departed,
        )  # fmt: skip
        return self._guard(lambda: Step(send=[(s, request) for s in self.participants]))

    def handle(self, event: Event | None, now: float) -> Step:
        """An event, or ``None`` when :attr:`deadline` passed."""
        return self._guard(lambda: self._handle(event, now))

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        """The result (or exception) of a piece of :class:`Work` this session returned."""
        return self._guard(lambda: self._computed(key, result, now))

    def attest(
        self,
        request: c.CheckpointRequest,
        record: Callable[[str, c.CheckpointCosign], None],
        connected: frozenset[str],
        now: float,
    ) -> Step:
        """RELEASE -> ATTEST: ask the connected survivors to co-sign ``request``.

        A co-signature needs no round state, so a silo back on a new link may answer.
        """
        self._move(Phase.ATTEST)
        asked = sorted(s for s in self.survivors if s in connected)
        for silo in asked:
            self.scope.departed.pop(silo, None)
        self._record_cosign = record
        self._collect = Collect(
            self.scope.round_id, asked, deadline=now + self._checkpoint_timeout_s,
            departed=self.scope.departed, answers=lambda m: isinstance(m, c.CheckpointCosign),
        )  # fmt: skip
        step = Step(send=[(s, request) for s in asked])
        return step.extend(self._attest_progress())

    def finish(self, reason: str | None = None) -> None:
        """RELEASE -> DONE (``reason`` None) or any phase -> FAILED (the pump's decode failed)."""
        if reason is None:
            self._move(Phase.DONE)
        else:
            self.reason = reason
            self._move(Phase.FAILED)

    # -- phases --------------------------------------------------------------------------

    def _handle(self, event: Event | None, now: float) -> Step:
        if self.phase is Phase.AGGREGATE:
            return self._after_mode(self.mode.handle(event, now))
        if self.phase not in (Phase.TRAIN, Phase.ATTEST):
            raise ProtocolViolation(f"an event in phase {self.phase.value}")
        assert self._collect is not None
        answer = self._collect.offer(event)
        if self.phase is Phase.ATTEST:
            step = Step()
            if answer is not None:
                silo, cosign = answer[0], answer[1]
                assert self._record_cosign is not None and isinstance(cosign, c.CheckpointCosign)
                record, signed = self._record_cosign, cosign
                self._recording += 1  # the phase ends only once every answer is recorded
                step.work.append(Work(("cosign", silo), lambda: record(silo, signed), False))
            return step.extend(self._attest_progress())
        step = Step()
        if answer is not None:
            silo, message = answer
            if isinstance(message, c.Abstain):
                step.records.append(
                    self.scope.drop(silo, "train", f"abstained: {message.reason[:200]}")
                )
            else:
                verdict = self.mode.accept(silo, message)
                if isinstance(verdict, Work):
                    return Step(work=[Work(("accept", silo), verdict.run, verdict.offload)])
                step.extend(self._accepted_or_dropped(silo, verdict))
        return step.extend(self._train_progress(now))

    def _computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        if self.phase is Phase.AGGREGATE:
            return self._after_mode(self.mode.computed(key, result, now))
        if self.phase is Phase.TRAIN and key[0] == "accept":
            if isinstance(result, BaseException):
                raise result
            step = self._accepted_or_dropped(key[1], result)
            return step.extend(self._train_progress(now))
        if self.phase is Phase.ATTEST and key[0] == "cosign":
            self._recording -= 1
            if isinstance(result, BaseException):
                raise result
            return self._attest_progress()
        raise ProtocolViolation(f"work {key[0]!r} done in phase {self.phase.value}")

    def _accepted_or_dropped(self, silo: str, refusal: str | None) -> Step:
        if refusal is None:
            self._accepted.append(silo)
            return Step()
        return Step(records=[self.scope.drop(silo, "train", refusal)])

    def _train_progress(self, now: float) -> Step:
        assert self._collect is not None
        step = Step(
            records=[self.scope.drop(s, "train", r) for s, r in self._collect.take_missing()]
        )
        if not self._collect.done:
            return step
        self.ready = self.survivors = tuple(sorted(self._accepted))
        if len(self.ready) < self._min_silos:
            self.reason = (
                f"only {len(self.ready)} silos ready; min_participants is {self._min_silos}"
            )
            self._move(Phase.FAILED)
            return step
        self._move(Phase.AGGREGATE)
        return step.extend(self._after_mode(self.mode.start(self.ready, now)))

    def _after_mode(self, step: Step) -> Step:
        if self.mode.finished:
            self.survivors = self.mode.survivors
            if self.mode.result is None:
                self.reason = self.mode.abort_reason or "aggregation failed"
                self._move(Phase.FAILED)
            else:
                self._move(Phase.RELEASE)
        return step

    def _attest_progress(self) -> Step:
        assert self._collect is not None
        self.silent += [s for s, r in self._collect.take_missing() if r == TIMED_OUT]
        if self._collect.done and not self._recording:
            self._move(Phase.DONE)
        return Step()

    def _move(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise ProtocolViolation(f"round cannot go from {self.phase.value} to {phase.value}")
        self.phase = phase

    def _guard(self, action: Callable[[], Step]) -> Step:
        if self.phase in (Phase.DONE, Phase.FAILED):
            raise ProtocolViolation(f"the round is over ({self.phase.value})")
        try:
            return action()
        except BaseException:
            self.reason = self.reason or "internal error"
            self.phase = Phase.FAILED  # h11's rule: after an exception, only the terminal state
            raise
