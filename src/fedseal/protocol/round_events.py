"""What goes into and comes out of the coordinator's sans-IO round sessions.

:class:`AggregationSession` is what every aggregation mode's per-round session offers the
round (:mod:`fedseal.protocol.round_control`), and :class:`RoundScope` what the phases of one
round share. In: the transport's typed events (:class:`Connected`, :class:`Gone`,
:class:`Received`), the passing of a deadline (``None``), and the results of work the session
asked for.
Out: a :class:`Step` -- the audit :class:`Record` s to append, *then* the messages to send, and
the :class:`Work` to run -- and the session's next deadline. A pump
(:class:`fedseal.server.driver.RoundDriver`) performs a step in exactly that order, so "audit
before send" is a property of the shape, not of each caller.

:class:`Collect` is the one rule every phase that asks some silos and waits uses (training,
Paillier decryption, checkpoint co-signatures): the first answer of this round from each awaited
silo counts, a silo whose connection ended is missing with the transport's reason, late answers
to an earlier round are skipped, and at the deadline everyone still awaited is missing
("timed out"). h11 (``h11/_state.py``) is the model: the session never reads a clock, a socket or
a thread; time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.protocol import control as c

__all__ = [
    "TIMED_OUT",
    "AggregationSession",
    "Collect",
    "Connected",
    "Event",
    "Gone",
    "Received",
    "Record",
    "RoundScope",
    "Step",
    "Work",
]

#: The reason of a silo that did not answer before its phase's deadline.
TIMED_OUT = "timed out"


@dataclass(frozen=True)
class Connected:
    """A silo authenticated and has a link."""

    silo: str


@dataclass(frozen=True)
class Gone:
    """A silo's connection ended, or it sent something malformed (``reason`` says which)."""

    silo: str
    reason: str


@dataclass(frozen=True)
class Received:
    """A silo sent a well-formed message.

    ``on_taken``, if given, is called once when the driver takes the event from its queue: the
    transport gives back there the memory budget the message was decoded under
    (:mod:`fedseal.server.backpressure`), so messages waiting in the queue count against it.
    """

    silo: str
    message: c.ToServer
    on_taken: Callable[[], None] | None = field(default=None, compare=False, repr=False)


Event = Connected | Gone | Received


@dataclass(frozen=True)
class Record:
    """One entry for the server's audit log (``details`` never hold an update or a secret)."""

    event: str
    outcome: str = ev.SUCCESS
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    """A computation the session needs done; its result comes back through ``computed``.

    ``offload`` work is CPU-bound and touches only its own objects (a proof check, combining
    partial decryptions): the pump runs it on a worker thread so the transport keeps being
    served. Other work (recording a co-signature in the audit log) runs on the pump's thread.
    The pump runs one piece of work at a time, in order, and hands each result back before it
    takes the next event. An exception raised by ``run`` is handed back as the result.
    """

    key: tuple[Any, ...]
    run: Callable[[], Any]
    offload: bool = True


@dataclass
class Step:
    """What to do now: append ``records``, then send ``send``, then run ``work``."""

    records: list[Record] = field(default_factory=list)
    send: list[tuple[str, Any]] = field(default_factory=list)
    work: list[Work] = field(default_factory=list)

    def extend(self, other: Step) -> Step:
        """Append ``other``'s actions after this step's; returns self."""
        self.records += other.records
        self.send += other.send
        self.work += other.work
        return self


@dataclass
class RoundScope:
    """What the phases of one round share: its id, its departures and its dropouts."""

    round_id: int
    #: Silos whose connection ended during the round, with the first reason.
    departed: dict[str, str] = field(default_factory=dict)
    #: ``{"silo", "stage", "reason"}`` of every dropout, in order.
    dropouts: list[dict[str, str]] = field(default_factory=list)

    def drop(self, silo: str, stage: str, reason: str) -> Record:
        """Record a dropout; returns its audit record."""
        self.dropouts.append({"silo": silo, "stage": stage, "reason": reason})
        return Record(ev.DROPOUT, ev.FAILURE, {"silo": silo, "stage": stage, "reason": reason})


class AggregationSession(Protocol):
    """The server side of one aggregation mode for one round, sans-IO."""

    #: Silos found misbehaving, with the reason (the pump excludes them from later rounds).
    culprits: dict[str, str]
    #: The summed integer vector once finished without abort.
    result: npt.NDArray[Any] | None
    abort_reason: str | None
    survivors: tuple[str, ...]

    @property
    def finished(self) -> bool:
        """The aggregation ended (``result`` or ``abort_reason`` is set)."""

    @property
    def deadline(self) -> float:
        """When the current stage closes."""

    def accept(self, silo: str, message: c.ToServer) -> str | Work | None:
        """A silo's answer to the ``TrainRequest``: None (ready), why not, or work for that."""

    def start(self, ready: tuple[str, ...], now: float) -> Step:
        """Begin aggregating the ready silos."""

    def handle(self, event: Event | None, now: float) -> Step:
        """An event (``None``: the deadline passed)."""

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        """The result of work this session asked for."""


class Collect:
    """The answers of one phase (see the module docstring). Sans-IO.

    Parameters
    ----------
    round_id : int
        Messages of other rounds are skipped.
    awaited : iterable of str
        Silos asked; each answers at most once.
    deadline : float
        When every silo still awaited is missing.
    departed : dict of str to str
        The round's silos whose connection ended, with the first reason. Awaited ones are
        missing at once (:attr:`missing` after construction); new departures are added.
    answers : callable, optional
        Which messages count as the answer (default: any); others are skipped.
    """

    def __init__(
        self,
        round_id: int,
        awaited: Iterable[str],
        *,
        deadline: float,
        departed: dict[str, str],
        answers: Callable[[c.ToServer], bool] | None = None,
    ) -> None:
        self.round_id = round_id
        self.pending = set(awaited)
        self.deadline = deadline
        self._departed = departed
        self._answers = answers
        #: ``(silo, reason)`` of silos missing so far; read and cleared by the owner.
        self.missing: list[tuple[str, str]] = []
        for silo in sorted(self.pending & set(departed)):
            self.pending.discard(silo)
            self.missing.append((silo, departed[silo]))

    @property
    def done(self) -> bool:
        """Every awaited silo answered or is missing."""
        return not self.pending

    def offer(self, event: Event | None) -> tuple[str, c.ToServer] | None:
        """Take one event (``None``: the deadline passed); returns an answer that counts.

        A silo that became missing is appended to :attr:`missing`.
        """
        if event is None:
            self.missing += [(silo, TIMED_OUT) for silo in sorted(self.pending)]
            self.pending.clear()
            return None
        if isinstance(event, Gone):
            self._departed.setdefault(event.silo, event.reason)  # the first reason is the cause
        if isinstance(event, Connected) or event.silo not in self.pending:
            return None
        if isinstance(event, Received):
            if c.round_of(event.message) != self.round_id:
                return None  # a late answer to an earlier round
            if self._answers is not None and not self._answers(event.message):
                return None
            self.pending.discard(event.silo)
            return event.silo, event.message
        self.pending.discard(event.silo)
        self.missing.append((event.silo, event.reason))
        return None

    def take_missing(self) -> list[tuple[str, str]]:
        """The silos missing since the last call."""
        missing, self.missing = self.missing, []
        return missing
