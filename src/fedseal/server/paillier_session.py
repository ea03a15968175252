"""The round of ``aggregation = "paillier"`` as a sans-IO session (``AggregationSession``).

Steps 1-3 of :mod:`fedseal.server.paillier_round`: each ``PaillierInput`` of the train phase is
checked and multiplied into the sum as work off the event loop; then the decryption request
goes to every contributor, each partial decryption is checked (work) as it arrives, a bad or
missing one is a dropout of the ``decrypt`` stage, and with ``t`` valid partials the sum is
combined (work). The pump runs one piece of work at a time, so inputs are added one by one.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.errors import FedsealError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.round_control import RoundScope
from fedseal.protocol.round_events import Collect, Event, Record, Step, Work
from fedseal.secagg.paillier import PartialDecryption
from fedseal.server.paillier_round import DECRYPT_STAGE, PaillierAggregator

__all__ = ["PaillierSession"]

log = logging.getLogger("fedseal.server")


class PaillierSession:
    """One round of ``aggregation = "paillier"``, sans-IO (steps 1-3 of the module docstring).

    Parameters
    ----------
    setup : PaillierAggregator
    scope : RoundScope
        The round's id, departures and dropouts.
    timeout_s : float
        How long the contributors get to send their partial decryptions.
    bits : int
        The quantization's bits (audited with the round's start).
    """

    def __init__(
        self, setup: PaillierAggregator, scope: RoundScope, *, timeout_s: float, bits: int
    ) -> None:
        self._setup, self._scope = setup, scope
        self._timeout_s, self._bits = timeout_s, bits
        self._round = setup.new_round(scope.round_id)
        self.culprits: dict[str, str] = {}
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self.survivors: tuple[str, ...] = ()
        self._collect: Collect | None = None
        self._valid: dict[str, PartialDecryption] = {}
        self._checking = 0  # partial decryptions handed out for checking, not yet back
        self._combining = False
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def deadline(self) -> float:
        return self._collect.deadline if self._collect is not None else 0.0

    def accept(self, silo: str, message: c.ToServer) -> str | Work | None:
        """Train phase: a ``PaillierInput`` is checked (off the loop) and added to the sum."""
        if not isinstance(message, c.PaillierInput):
            return f"unexpected {type(message).__name__}"
        round_ = self._round

        def check() -> str | None:
            try:
                round_.add_input(silo, message)
            except FedsealError as exc:
                return f"invalid Paillier input: {exc}"
            return None

        return Work(("input", silo), check)

    def start(self, ready: tuple[str, ...], now: float) -> Step:
        """Send the decryption request to every contributor."""
        key = self._setup.key.public_key
        step = Step(records=[Record(ev.ROUND_STARTED, details=dict(
            n=len(ready), t=key.threshold, bits=self._bits, key_bits=key.key_bits,
            participants=list(ready), aggregation="paillier",
        ))])  # fmt: skip
        self.survivors = ready
        try:
            request = self._round.decrypt_request()
        except RoundAbortedError as exc:
            self.abort_reason, self._finished = str(exc), True
            return step
        contributors = self._round.contributors
        self._collect = Collect(
            self._scope.round_id, contributors, deadline=now + self._timeout_s,
            departed=self._scope.departed,
        )  # fmt: skip
        step.send += [(silo, request) for silo in contributors]
        return step.extend(self._progress())

    def handle(self, event: Event | None, now: float) -> Step:
        assert self._collect is not None, "start() comes first"
        answer = self._collect.offer(event)
        step = Step()
        if answer is not None:
            silo, payload = answer
            if isinstance(payload, m.AbortRound):
                step.records.append(self._drop(silo, f"refused: {payload.reason[:200]}"))
            elif isinstance(payload, c.PartialDecryptionShare):
                self._checking += 1
                check = functools.partial(self._round.check_partial, silo, payload)
                step.work.append(Work(("partial", silo), check))
            else:
                step.records.append(self._drop(silo, f"unexpected {type(payload).__name__}"))
        return step.extend(self._progress())

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        if key[0] == "partial":
            self._checking -= 1
            if isinstance(result, ProtocolViolation):
                step = Step(records=[self._drop(key[1], f"invalid partial decryption: {result}")])
                return step.extend(self._progress())
            if isinstance(result, BaseException):
                raise result
            self._valid[key[1]] = result
            return self._progress()
        if key[0] == "combine":
            self._finished = True
            if isinstance(result, FedsealError):
                self.abort_reason = str(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                self.result, decryption = result
                log.info(
                    "round %d: %d contributions decrypted with the partials of %s",
                    self._scope.round_id, len(self._round.contributors), list(decryption.used),
                )  # fmt: skip
            return Step()
        raise ProtocolViolation(f"unknown work {key[0]!r}")

    def _drop(self, silo: str, reason: str) -> Record:
        return self._scope.drop(silo, DECRYPT_STAGE, reason)

    def _progress(self) -> Step:
        assert self._collect is not None
        step = Step(records=[self._drop(s, r) for s, r in self._collect.take_missing()])
        if not self._collect.done or self._checking or self._combining:
            return step
        t = self._setup.threshold
        if len(self._valid) < t:
            self._finished = True
            self.abort_reason = (
                f"only {len(self._valid)} valid partial decryptions; threshold is {t}"
            )
            return step
        self._combining = True
        partials = [self._valid[s] for s in sorted(self._valid)]
        step.work.append(Work(("combine",), functools.partial(self._round.combine, partials)))
        return step
