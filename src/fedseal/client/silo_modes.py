"""The silo's side of the aggregation modes: one interface, three implementations.

The agent (:mod:`fedseal.client.agent`) admits a round, persists its id, and hands it to the
mode the ``TrainRequest`` names:

* :meth:`SiloMode.refuse` -- a mode-specific reason not to join (before the id is persisted);
* :meth:`SiloMode.join` -- the replies to the ``TrainRequest``, or why the silo abstains;
* :meth:`SiloMode.receive` -- the mode's later messages of the same round;
* :meth:`SiloMode.abandon` -- the connection broke or a newer round began: drop the round.

Implementations: :class:`~fedseal.client.masking_silo.MaskingSilo` (SecAgg; trains when its
shares arrive), :class:`PaillierMode` (trains at once, sends an encrypted input with its proof,
later helps decrypt the sum; :mod:`fedseal.client.paillier_silo`) and :class:`PlaintextMode`
(trains at once and sends the update in clear: insecure, only if ``allow_plaintext``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np

from fedseal.audit import events as ev
from fedseal.client.training import Audit, LocalTraining
from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol import messages as m

if TYPE_CHECKING:  # the Paillier mode needs gmpy2 and phe, an optional extra
    from fedseal.client.paillier_silo import PaillierSilo

__all__ = ["PaillierMode", "PlaintextMode", "SiloMode"]

log = logging.getLogger("fedseal.client")


class SiloMode(Protocol):
    """One aggregation mode on the silo (see the module docstring)."""

    mode: str

    def refuse(self, req: c.TrainRequest) -> str | None:
        """Why this silo will not join ``req``, or None."""

    def join(self, req: c.TrainRequest, *, previous_round: int) -> list[c.ToServer] | str:
        """Replies to ``req``, or why the silo abstains."""

    def receive(self, message: c.ToSilo) -> list[c.ToServer]:
        """A later message of the round this mode joined."""

    def abandon(self) -> None:
        """Drop the round in progress."""

    def close(self) -> None:
        """The deployment ended: release what the mode holds."""


class PlaintextMode:
    """``aggregation = "none"``: the encoded update in clear (INSECURE; benchmarks only)."""

    mode = "none"

    def __init__(self, *, silo: str, deployment_id: str, allowed: bool, training: LocalTraining,
                 audit: Audit) -> None:  # fmt: skip
        self.silo, self.deployment_id = silo, deployment_id
        self._allowed, self._training, self._audit = allowed, training, audit

    def refuse(self, req: c.TrainRequest) -> str | None:
        if self._allowed:
            return None
        self._audit(ev.ROUND_STARTED, req.round_id, ev.REFUSED, reason="plaintext aggregation")
        return "plaintext aggregation is not allowed by this silo's config"

    def join(self, req: c.TrainRequest, *, previous_round: int) -> list[c.ToServer] | str:
        encoded = self._training.run(req)
        if isinstance(encoded, str):
            return encoded
        return [c.PlaintextInput(self.deployment_id, req.round_id, self.silo, encoded)]

    def receive(self, message: c.ToSilo) -> list[c.ToServer]:
        return []

    def abandon(self) -> None:
        """Nothing is kept between messages."""

    def close(self) -> None:
        """Nothing to release."""


class PaillierMode:
    """``aggregation = "paillier"``: encrypt the update under the deployment's key, then decrypt
    the sum with the other share holders (every contribution is re-checked before that)."""

    mode = "paillier"

    def __init__(self, *, silo: str, deployment_id: str, paillier: PaillierSilo,
                 training: LocalTraining, audit: Audit) -> None:  # fmt: skip
        self.silo, self.deployment_id = silo, deployment_id
        self._paillier, self._training, self._audit = paillier, training, audit
        self._round = 0

    def refuse(self, req: c.TrainRequest) -> str | None:
        return None

    def join(self, req: c.TrainRequest, *, previous_round: int) -> list[c.ToServer] | str:
        paillier = self._paillier
        try:
            paillier.begin(req.round_id, req.quantization, dim=int(np.asarray(req.weights).size))
        except ConfigError as exc:
            return f"cannot pack this round's quantization under the Paillier key: {exc}"
        self._round = req.round_id
        public = paillier.key.public_key
        self._audit(
            ev.ROUND_STARTED, req.round_id, aggregation="paillier", n=public.parties,
            t=public.threshold, key_bits=public.key_bits, bits=req.quantization.bits,
        )  # fmt: skip
        encoded = self._training.run(req)
        if isinstance(encoded, str):
            return encoded
        return [paillier.contribute(encoded)]

    def receive(self, message: c.ToSilo) -> list[c.ToServer]:
        round_id = self._round
        if not isinstance(message, c.DecryptRequest) or not self._paillier.in_round(round_id):
            log.info("ignoring %s for round %d: this silo is not in it",
                     type(message).__name__, round_id)  # fmt: skip
            return []
        try:
            share = self._paillier.decrypt(message)
        except ProtocolViolation as exc:
            log.error("round %d: refusing to decrypt: %s", round_id, exc)
            self._audit(
                ev.UNMASK_REFUSED, round_id, ev.REFUSED, silo=self.silo, reason=str(exc)[:300]
            )
            return [m.AbortRound(self.deployment_id, round_id, "silo refused to decrypt")]
        self._audit(
            ev.UNMASK_ANSWERED, round_id, silo=self.silo,
            contributions_count=len(message.contributions),
            contributors=sorted(x.sender for x in message.contributions),
        )  # fmt: skip
        return [share]

    def abandon(self) -> None:
        self._paillier.end_round()

    def close(self) -> None:
        self._paillier.close()
