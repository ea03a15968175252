"""A silo's side of ``aggregation = "masking"``: one :class:`ClientSession` per round.

The silo answers the ``TrainRequest`` with ``TrainReady`` and **trains only when its shares
arrive** (``ShareDelivery``): by then the round has passed this silo's policy (checked by the
session at ``BeginRound``) and at least ``t`` silos have committed keys, so a round refused or
aborted in stages 0-1 costs no privacy budget. If it then cannot contribute (privacy budget,
the app failed, the update does not fit) it leaves the round with ``AbortRound`` and the others
recover its masks. A protocol violation by the server ends the session (its secrets are
dropped), is audited as a refusal and answered with ``AbortRound``. A model this silo already
helped unmask a sum on is refused before the round is joined (differencing two sums on one
model could isolate its input): :class:`~fedseal.client.released.FileReleaseLedger`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fedseal.audit import events as ev
from fedseal.client.released import FileReleaseLedger
from fedseal.client.training import Audit, LocalTraining
from fedseal.errors import ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy, ClientSession, ClientStage
from fedseal.protocol.release import model_digest
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["MaskingSilo"]

log = logging.getLogger("fedseal.client")


class MaskingSilo:
    """The masking mode of one silo's agent (see the module docstring)."""

    mode = "masking"

    def __init__(
        self,
        *,
        silo: str,
        deployment_id: str,
        identity_key: IdentityKey,
        directory: Mapping[str, IdentityPublicKey],
        policy: ClientPolicy,
        releases: FileReleaseLedger,
        training: LocalTraining,
        rng: RandomSource,
        audit: Audit,
    ) -> None:
        self.silo, self.deployment_id = silo, deployment_id
        self._identity, self._directory = identity_key, dict(directory)
        self._policy, self._releases, self._training = policy, releases, training
        self._rng, self._audit = rng, audit
        self._session: ClientSession | None = None
        self._model: tuple[c.TrainRequest | None, bytes] = (None, b"")
        self._pending: c.TrainRequest | None = None
        self._round = 0

    def refuse(self, req: c.TrainRequest) -> str | None:
        """Why this silo will not join ``req`` (checked before the round id is persisted)."""
        self._model = (req, model_digest(req.weights))  # hashed once per request (8 B/param)
        if self._releases.released(self._model[1]):
            self._audit(ev.ROUND_STARTED, req.round_id, ev.REFUSED, reason="model already released")
            return "this silo already helped unmask a sum on this model"
        return None

    def join(self, req: c.TrainRequest, *, previous_round: int) -> list[c.ToServer] | str:
        """Open the round's session and answer ``TrainReady``; training waits for the shares."""
        self._session = ClientSession(
            silo_id=self.silo,
            deployment_id=self.deployment_id,
            identity_key=self._identity,
            directory=self._directory,
            rng=self._rng,
            policy=self._policy,
            last_round=previous_round,
            train_digest=req.digest(),
            model_digest=self._model[1] if self._model[0] is req else model_digest(req.weights),
            releases=self._releases,
        )
        self._pending, self._round = req, req.round_id
        return [c.TrainReady(self.deployment_id, req.round_id, self.silo)]

    def receive(self, message: c.ToSilo) -> list[c.ToServer]:
        """A SecAgg message of this silo's current round."""
        session, round_id = self._session, self._round
        if session is None:
            if not isinstance(message, m.AbortRound):
                log.info("ignoring %s for a round this silo is not in", type(message).__name__)
            return []
        if isinstance(message, m.ShareDelivery) and self._pending is not None:
            refusal = self._train(session, self._pending)
            self._pending = None
            if refusal is not None:
                self._session = None  # its shares were dealt: the others recover its masks
                log.warning("round %d: leaving the round: %s", round_id, refusal)
                return [m.AbortRound(self.deployment_id, round_id, refusal[:200])]
        secagg: Any = message  # any other type is the session's to refuse
        try:
            replies = session.receive(secagg)
        except RoundAbortedError as exc:
            self.abandon()
            log.warning("round %d aborted: %s", round_id, exc)
            return []
        except ProtocolViolation as exc:
            self.abandon()
            log.error("round %d: refusing the round (server or configuration): %s", round_id, exc)
            event = ev.ROUND_STARTED if isinstance(message, m.BeginRound) else ev.UNMASK_REFUSED
            self._audit(event, round_id, ev.REFUSED, silo=self.silo, reason=str(exc)[:300])
            return [m.AbortRound(self.deployment_id, round_id, f"silo refused: {exc}"[:200])]
        except Exception:  # the session is ABORTED already; this silo leaves the round
            self.abandon()
            log.exception("round %d: internal error in the SecAgg session", round_id)
            return [m.AbortRound(self.deployment_id, round_id, "silo failed: internal error")]
        if isinstance(message, m.BeginRound):
            p = message.params
            self._audit(
                ev.ROUND_STARTED, round_id, n=len(p.participants), t=p.threshold, k=p.k,
                graph=p.graph.value, participants=list(p.participants),
            )  # fmt: skip
        if session.stage is ClientStage.DONE:
            self._audit(ev.UNMASK_ANSWERED, round_id, silo=self.silo)
            self._session = None
        return list(replies)  # type: ignore[arg-type]

    def _train(self, session: ClientSession, req: c.TrainRequest) -> str | None:
        encoded = self._training.run(req)
        if isinstance(encoded, str):
            return encoded
        try:
            session.provide_input(encoded)
        except ConfigError as exc:
            return f"the update does not fit the round: {exc}"
        return None

    def abandon(self) -> None:
        """Drop the round in progress (its secrets with it)."""
        self._session, self._pending = None, None

    def close(self) -> None:
        """Nothing to release."""
        self.abandon()
