"""The driver's typed events and the one loop every phase of a round uses to collect answers.

The transport gives the driver a :class:`Link` per connected silo and reports three kinds of
event (:class:`Connected`, :class:`Gone`, :class:`Received`) into one queue; the driver handles
them one at a time. Every phase that sends a request to some
silos and waits for their answers -- training, Paillier decryption, checkpoint co-signatures --
goes through :func:`gather`: answers of this round are handed to the phase one by one, a silo
that disconnects counts as missing, late answers to an earlier round are skipped, and when the
deadline passes every silo still awaited counts as missing ("timed out"). The masking stages
are driven by the sans-IO :class:`~fedseal.protocol.server.ServerSession` instead, which closes
its own stages (:mod:`fedseal.server.masking_round`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from fedseal.protocol import control as c

__all__ = ["Connected", "Event", "Gone", "Link", "Received", "RoundIO", "gather"]


class Link(Protocol):
    """The transport's handle on one connected silo."""

    def send(self, message: c.ToSilo) -> None:
        """Queue ``message`` for the silo (never blocks)."""

    def close(self, reason: str) -> None:
        """End the connection."""


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


@dataclass(frozen=True, kw_only=True)
class RoundIO:
    """What a phase of one round needs from the driver.

    ``next_event(deadline)`` returns the next event or None at the deadline; ``drop(silo,
    stage, reason)`` records a dropout (audited first); ``audit(event, outcome, **details)``
    appends to the server's audit log for this round. ``departed`` collects the silos whose
    connection ended during the round (and why): a silo that answered one phase and then
    disconnected has lost its round state, so later phases count it out at once instead of
    waiting for their deadline.
    """

    round_id: int
    next_event: Callable[[float], Awaitable[Event | None]]
    send: Callable[[str, c.ToSilo], None]
    drop: Callable[[str, str, str], None]
    audit: Callable[..., None]
    clock: Callable[[], float]
    departed: dict[str, str] = field(default_factory=dict)


async def gather(
    io: RoundIO,
    awaited: Iterable[str],
    *,
    timeout_s: float,
    missing: Callable[[str, str], None],
    answers: Callable[[c.ToServer], bool] | None = None,
) -> AsyncIterator[tuple[str, c.ToServer]]:
    """Yield ``(silo, message)`` for the first answer of each awaited silo in this round.

    Parameters
    ----------
    io : RoundIO
    awaited : iterable of str
        Silos asked; each is yielded at most once.
    timeout_s : float
        Seconds from now until every silo not yet heard from is missing.
    missing : callable
        ``missing(silo, reason)`` for a silo that disconnected (``reason`` from the transport)
        or timed out (``"timed out"``).
    answers : callable, optional
        Which messages of this round count as the answer (default: any); others, such as a
        straggling message of the round's previous phase, are skipped.
    """
    pending = set(awaited)
    deadline = io.clock() + timeout_s
    for silo in sorted(pending & set(io.departed)):
        pending.discard(silo)
        missing(silo, io.departed[silo])
    while pending:
        event = await io.next_event(deadline)
        if event is None:
            for silo in sorted(pending):
                missing(silo, "timed out")
            return
        if isinstance(event, Gone):
            io.departed.setdefault(event.silo, event.reason)  # the first reason is the cause
        if isinstance(event, Connected) or event.silo not in pending:
            continue
        if isinstance(event, Received):
            if c.round_of(event.message) != io.round_id:
                continue  # a late answer to an earlier round
            if answers is not None and not answers(event.message):
                continue
            pending.discard(event.silo)
            yield event.silo, event.message
        else:
            pending.discard(event.silo)
            missing(event.silo, event.reason)
