"""The silo agent's logic: one message from the server in, the replies out (no I/O of its own).

Theory of operation
-------------------
:class:`SiloAgent` turns the server's requests into calls on the user's
:class:`~fedseal.client.app.SiloApp` and on a fresh
:class:`~fedseal.protocol.client.ClientSession` per round:

- ``TrainRequest``: refuse a round id that is not newer than the last one this silo joined
  (persisted in ``state_dir/silo-state.json`` *before* anything is trained, so a restart never
  joins the same round twice), refuse plaintext aggregation unless the silo's own config allows
  it, and refuse a model it already helped unmask a sum on. In masking mode it answers
  ``TrainReady`` at once and **trains only when the shares arrive**: by then the round has
  passed this silo's policy and at least ``t`` silos have committed keys, so a round refused or
  aborted in stages 0-1 costs no privacy budget. It then evaluates the global model, trains and
  encodes ``[w*update, w, v, v*metrics]`` for the session (``w`` its declared weight,
  ``v = 0``: no metrics unless ``send_metrics``, which a DP silo never sets); if it cannot
  (privacy budget, the app failed) it leaves the round and the others recover its masks. In
  Paillier and plaintext mode it trains at once. A privacy-budget refusal is audited.
- SecAgg messages go to the round's session; a protocol violation ends the session (its secrets
  are dropped) and answers ``AbortRound``.
- ``CheckpointRequest``: verify the server's signed audit checkpoint against the server's
  identity key, store it (a second, different checkpoint of the same size is evidence of a
  forked history and is refused) and answer a co-signature.

The transport calls :meth:`SiloAgent.connection_lost` when the stream breaks: the round in
progress is abandoned (masks are never reused; the next round has fresh keys).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.audit.canonical import decode_canonical
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.log import AuditLog
from fedseal.audit.witness import WitnessStore
from fedseal.client.app import SiloApp
from fedseal.client.released import FileReleaseLedger
from fedseal.deploy.files import write_atomic
from fedseal.errors import (
    ConfigError,
    FedsealError,
    PrivacyBudgetExceeded,
    ProtocolViolation,
    RoundAbortedError,
)
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy, ClientSession, ClientStage
from fedseal.protocol.release import model_digest
from fedseal.secagg.hazmat.randomness import RandomSource, SystemRandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["SiloAgent"]

if TYPE_CHECKING:  # the Paillier mode needs gmpy2 and phe, an optional extra
    from fedseal.client.paillier_silo import PaillierSilo

log = logging.getLogger("fedseal.client")


class SiloAgent:
    """One silo's agent for the deployment's whole life. See the module docstring."""

    def __init__(
        self,
        *,
        silo: str,
        deployment_id: str,
        identity_key: IdentityKey,
        directory: Mapping[str, IdentityPublicKey],
        server_identity: IdentityPublicKey,
        app: SiloApp,
        state_dir: Path,
        audit: AuditLog | None = None,
        policy: ClientPolicy | None = None,
        allow_plaintext: bool = False,
        fedavg_weight: int = 1,
        send_metrics: bool = False,
        rng: RandomSource | None = None,
        paillier: PaillierSilo | None = None,
    ) -> None:
        self.silo = silo
        self.deployment_id = deployment_id
        self._identity = identity_key
        self._directory = dict(directory)
        self._server_identity = server_identity
        self._app = app
        self._audit = audit
        self._policy = policy or ClientPolicy()
        self._allow_plaintext = allow_plaintext
        if (
            isinstance(fedavg_weight, bool)
            or not isinstance(fedavg_weight, int)
            or fedavg_weight < 1
        ):
            raise ConfigError(f"fedavg_weight must be an integer >= 1, got {fedavg_weight!r}")
        self._fedavg_weight = fedavg_weight
        # Off by default: the loss and accuracy of the global model on local data are
        # un-noised statistics of that data, which a DP silo must not release.
        self._send_metrics = send_metrics
        self._rng = rng or SystemRandomSource()
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._state_path = state_dir / "silo-state.json"
        self._witness = WitnessStore(state_dir / "witnessed-checkpoints.jsonl")
        self._releases = FileReleaseLedger(state_dir / "released-models.json")
        self.last_round = self._load_last_round()
        self._session: ClientSession | None = None
        self._pending: c.TrainRequest | None = None  # masking: trained at ShareDelivery
        self._paillier = paillier

    def _load_last_round(self) -> int:
        if not self._state_path.exists():
            return 0
        return int(json.loads(self._state_path.read_text())["last_round"])

    def _save_last_round(self, round_id: int) -> None:
        write_atomic(self._state_path, json.dumps({"last_round": round_id}).encode(), mode=0o600)
        self.last_round = round_id

    def _audit_event(
        self, event: str, round_id: int | None, outcome: str = ev.SUCCESS, **details: Any
    ) -> None:
        if self._audit is not None:
            self._audit.append(event, round=round_id, outcome=outcome, details=details)

    def connection_lost(self) -> None:
        """The stream broke: abandon the round in progress (its secrets are dropped)."""
        self._session = None
        self._pending = None
        if self._paillier is not None:
            self._paillier.end_round()

    def handle(self, message: c.ToSilo) -> tuple[list[c.ToServer], bool]:
        """Process one server message; returns ``(replies, finished)``."""
        if isinstance(message, c.Finish):
            log.info("server finished the deployment: %s", message.reason)
            if self._paillier is not None:
                self._paillier.close()
            return [], True
        if isinstance(message, c.TrainRequest):
            return self._on_train(message), False
        if isinstance(message, c.CheckpointRequest):
            return self._on_checkpoint(message), False
        if isinstance(message, c.DecryptRequest):
            return self._on_decrypt(message), False
        return self._on_secagg(message), False

    # -- training -----------------------------------------------------------------------------

    def _on_train(self, req: c.TrainRequest) -> list[c.ToServer]:
        def abstain(reason: str) -> list[c.ToServer]:
            log.warning("round %d: abstaining: %s", req.round_id, reason)
            return [c.Abstain(self.deployment_id, req.round_id, self.silo, reason)]

        if req.deployment_id != self.deployment_id:
            return abstain("request for another deployment")
        if req.round_id <= self.last_round:
            return abstain(f"round {req.round_id} is not newer than round {self.last_round}")
        if req.aggregation == "none" and not self._allow_plaintext:
            self._audit_event(
                ev.ROUND_STARTED, req.round_id, ev.REFUSED, reason="plaintext aggregation"
            )
            return abstain("plaintext aggregation is not allowed by this silo's config")
        if req.aggregation not in c.AGGREGATION_MODES:
            return abstain(f"unknown aggregation {req.aggregation!r}")
        if req.aggregation == "paillier" and self._paillier is None:
            return abstain("no Paillier key: set paillier_public_key and paillier_key_share")
        model = model_digest(req.weights)
        if req.aggregation == "masking" and self._releases.released(model):
            # Differencing: a second sum on one model could isolate this silo's input.
            self._audit_event(
                ev.ROUND_STARTED, req.round_id, ev.REFUSED, reason="model already released"
            )
            return abstain("this silo already helped unmask a sum on this model")
        previous = self.last_round
        self._save_last_round(req.round_id)
        self._session, self._pending = None, None
        if self._paillier is not None:
            self._paillier.end_round()
        if req.aggregation == "paillier" and (refusal := self._begin_paillier(req)):
            return abstain(refusal)
        if req.aggregation == "masking":
            # Train only once the round has passed this silo's policy and at least t silos have
            # committed keys (stages 0-1): a round that aborts before then costs no budget.
            self._session = ClientSession(
                silo_id=self.silo,
                deployment_id=self.deployment_id,
                identity_key=self._identity,
                directory=self._directory,
                rng=self._rng,
                policy=self._policy,
                last_round=previous,
                train_digest=req.digest(),
                model_digest=model,
                releases=self._releases,
            )
            self._pending = req
            return [c.TrainReady(self.deployment_id, req.round_id, self.silo)]
        encoded = self._train(req)
        if isinstance(encoded, str):
            return abstain(encoded)
        if req.aggregation == "none":
            return [c.PlaintextInput(self.deployment_id, req.round_id, self.silo, encoded)]
        assert self._paillier is not None
        return [self._paillier.contribute(encoded)]

    def _train(self, req: c.TrainRequest) -> npt.NDArray[Any] | str:
        """Evaluate, train and encode; returns the encoded vector, or why the silo cannot."""
        config = {"round": req.round_id, **dict(req.config)}
        weights = np.asarray(req.weights, dtype=np.float64)
        try:
            evaluated = self._app.evaluate(weights, config) if self._send_metrics else None
            new_weights, _, fit_metrics = self._app.fit(weights, config)
        except PrivacyBudgetExceeded as exc:
            self._audit_event(
                ev.DP_BUDGET_REFUSED,
                req.round_id,
                ev.REFUSED,
                silo=self.silo,
                reason=str(exc)[:300],
            )
            return f"privacy budget: {exc}"
        except Exception as exc:  # the app is user code: one failed round must not end the silo
            log.exception("round %d: the app failed", req.round_id)
            return f"the silo's app failed: {type(exc).__name__}"
        if "epsilon" in fit_metrics:
            self._audit_event(
                ev.DP_EPSILON_SPENT, req.round_id, silo=self.silo,
                epsilon_total=float(fit_metrics["epsilon"]),
                delta=float(fit_metrics.get("delta", 0.0)),
            )  # fmt: skip
        spec = req.quantization
        update = np.asarray(new_weights, dtype=np.float64).ravel() - weights
        # The declared weight, never the live count n: the sum of weights would reveal it.
        weight = min(self._fedavg_weight, spec.max_weight)
        metrics = None
        if evaluated is not None:
            loss, _, eval_metrics = evaluated
            metrics = [float(loss), float(eval_metrics.get("accuracy", 0.0))]
        try:
            return spec.encode(update, weight=weight, metrics=metrics, rng=self._rng)
        except ConfigError as exc:  # NaN/inf in the update, or a malformed one
            return f"cannot encode this round's update: {exc}"

    def _begin_paillier(self, req: c.TrainRequest) -> str | None:
        """Start the Paillier round; returns why this silo cannot join it, or None."""
        paillier = self._paillier
        assert paillier is not None
        try:
            paillier.begin(req.round_id, req.quantization, dim=int(np.asarray(req.weights).size))
        except ConfigError as exc:
            return f"cannot pack this round's quantization under the Paillier key: {exc}"
        public = paillier.key.public_key
        self._audit_event(
            ev.ROUND_STARTED, req.round_id, aggregation="paillier", n=public.parties,
            t=public.threshold, key_bits=public.key_bits, bits=req.quantization.bits,
        )  # fmt: skip
        return None

    # -- Paillier decryption ------------------------------------------------------------------

    def _on_decrypt(self, req: c.DecryptRequest) -> list[c.ToServer]:
        paillier, round_id = self._paillier, req.round_id
        if paillier is None or round_id != self.last_round or not paillier.in_round(round_id):
            log.info("ignoring a DecryptRequest for round %d: this silo is not in it", round_id)
            return []
        try:
            share = paillier.decrypt(req)
        except ProtocolViolation as exc:
            log.error("round %d: refusing to decrypt: %s", round_id, exc)
            self._audit_event(
                ev.UNMASK_REFUSED, round_id, ev.REFUSED, silo=self.silo, reason=str(exc)[:300]
            )
            return [m.AbortRound(self.deployment_id, round_id, "silo refused to decrypt")]
        self._audit_event(
            ev.UNMASK_ANSWERED, round_id, silo=self.silo,
            contributions_count=len(req.contributions),
            contributors=sorted(x.sender for x in req.contributions),
        )  # fmt: skip
        return [share]

    # -- secure aggregation -------------------------------------------------------------------

    def _on_secagg(self, message: c.ToSilo) -> list[c.ToServer]:
        session = self._session
        round_id = getattr(
            message, "round_id", getattr(getattr(message, "params", None), "round_id", -1)
        )
        if session is None or round_id != self.last_round:
            if not isinstance(message, m.AbortRound):
                log.info("ignoring %s for a round this silo is not in", type(message).__name__)
            return []
        if isinstance(message, m.ShareDelivery) and self._pending is not None:
            refusal = self._train_for(session, self._pending)
            self._pending = None
            if refusal is not None:
                self._session = None  # its shares were dealt: the others recover its masks
                log.warning("round %d: leaving the round: %s", round_id, refusal)
                return [m.AbortRound(self.deployment_id, round_id, refusal[:200])]
        try:
            replies = session.receive(message)  # type: ignore[arg-type]
        except RoundAbortedError as exc:
            self._session, self._pending = None, None
            log.warning("round %d aborted: %s", round_id, exc)
            return []
        except ProtocolViolation as exc:
            self._session, self._pending = None, None
            log.error("round %d: server violated the protocol: %s", round_id, exc)
            event = ev.ROUND_STARTED if isinstance(message, m.BeginRound) else ev.UNMASK_REFUSED
            self._audit_event(event, round_id, ev.REFUSED, silo=self.silo, reason=str(exc)[:300])
            return [m.AbortRound(self.deployment_id, round_id, "silo refused: protocol violation")]
        if isinstance(message, m.BeginRound):
            p = message.params
            self._audit_event(
                ev.ROUND_STARTED, round_id, n=len(p.participants), t=p.threshold, k=p.k,
                graph=p.graph.value, participants=list(p.participants),
            )  # fmt: skip
        if session.stage is ClientStage.DONE:
            self._audit_event(ev.UNMASK_ANSWERED, round_id, silo=self.silo)
            self._session = None
        return list(replies)  # type: ignore[arg-type]

    def _train_for(self, session: ClientSession, req: c.TrainRequest) -> str | None:
        """Train now that the round has passed stages 0-1; returns why not, or None."""
        encoded = self._train(req)
        if isinstance(encoded, str):
            return encoded
        try:
            session.provide_input(encoded)
        except ConfigError as exc:
            return f"the update does not fit the round: {exc}"
        return None

    # -- attestation --------------------------------------------------------------------------

    def _on_checkpoint(self, req: c.CheckpointRequest) -> list[c.ToServer]:
        try:
            checkpoint = Checkpoint.from_record(decode_canonical(req.checkpoint))
            checkpoint.verify(self._server_identity)
            signature = checkpoint.cosign(self._identity, server_key=self._server_identity)
            self._witness.add(checkpoint)
        except (FedsealError, ValueError, TypeError, KeyError) as exc:
            log.error("refusing to co-sign the server's checkpoint: %s", exc)
            return []
        if self._audit is not None:
            self._audit.checkpoint(round=req.round_id)
        # The server attests only rounds whose aggregate it released: tell a DP app, so that
        # its ledger (and privacy report) tells released rounds from sent-then-aborted ones.
        released = getattr(self._app, "round_released", None)
        if callable(released) and req.round_id == self.last_round:
            try:
                released(req.round_id)
            except Exception:  # user code: a failed note must not cost the co-signature
                log.exception("round %d: the app's round_released failed", req.round_id)
        return [c.CheckpointCosign(self.deployment_id, req.round_id, self.silo, signature)]
