"""The transport's handle on a silo (:class:`Link`) and the driver's typed events.

The transport gives the driver a :class:`Link` per connected silo and reports three kinds of
event (:class:`Connected`, :class:`Gone`, :class:`Received`; defined with the sans-IO round
sessions in :mod:`fedseal.protocol.round_events`) into one queue, which the driver hands to
the round's session one at a time.
"""

from __future__ import annotations

from typing import Protocol

from fedseal.protocol import control as c
from fedseal.protocol.round_events import Connected, Event, Gone, Received

__all__ = ["Connected", "Event", "Gone", "Link", "Received"]


class Link(Protocol):
    """The transport's handle on one connected silo."""

    def send(self, message: c.ToSilo) -> None:
        """Queue ``message`` for the silo (never blocks)."""

    def close(self, reason: str) -> None:
        """End the connection."""
