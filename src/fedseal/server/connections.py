"""The coordinator's silos: who is connected, their events in one queue, and the wait for them.

:class:`Connections` is the half of :class:`~fedseal.server.driver.RoundDriver` that the
transport (:mod:`fedseal.server.grpc_server`, or the simulation's loopback) calls: a silo's
``Hello`` is checked by :class:`~fedseal.server.admission.Admission` before it joins anything;
connections, disconnections, messages and malformed messages become the typed events of
:mod:`fedseal.protocol.round_events` in one ``asyncio.Queue``, which the driver's pump reads
one at a time, so no sans-IO session is ever entered concurrently. Before each round
:meth:`Connections.wait_for_silos` waits for the admitted silos (up to ``connect_timeout_s``,
and below ``min_silos`` until ``connect_give_up_s``). Every connection and every refusal is
audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.errors import RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol.hello import Hello
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.admission import Admission, Refusal
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import Connected, Event, Gone, Link, Received

__all__ = ["Connections"]

log = logging.getLogger("fedseal.server")


class Connections:
    """The silos' links and events (see the module docstring).

    Parameters
    ----------
    config : DriverConfig
    directory : mapping of str to IdentityPublicKey
        Identity keys of every admitted silo.
    admission : Admission
        Checks each silo's ``Hello``.
    audit : AuditLog, optional
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        config: DriverConfig,
        directory: Mapping[str, IdentityPublicKey],
        admission: Admission,
        audit: AuditLog | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self._directory = dict(directory)
        self._admission = admission
        self._audit = audit
        self._clock = clock
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._excluded: dict[str, str] = {}
        self._absent: set[str] = set()  # away when the last wait for silos ended
        self.links: dict[str, Link] = {}

    # -- transport callbacks (called on the event loop) -------------------------------------

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

    async def wait_for_silos(self) -> None:
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

    def _send(self, silo: str, message: c.ToSilo) -> None:
        link = self.links.get(silo)
        if link is not None:
            link.send(message)
