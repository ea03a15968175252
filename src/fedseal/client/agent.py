"""The silo agent: the server's messages in, the replies out (no I/O of its own).

Theory of operation
-------------------
:class:`SiloAgent` is the glue between the server's requests and the user's
:class:`~fedseal.client.app.SiloApp`. Its own jobs are few:

- **Admission** of a ``TrainRequest``: refuse another deployment, a round id that is not newer
  than the last one this silo joined, and a mode this silo does not run or whose own checks
  refuse the round (:meth:`~fedseal.client.silo_modes.SiloMode.refuse`: plaintext not allowed,
  a model already released). The round id is then persisted in ``state_dir/silo-state.json``
  *before* anything is trained, so a restart never joins the same round twice.
- **Dispatch** of the round to its aggregation mode (:mod:`fedseal.client.silo_modes`:
  masking, Paillier, plaintext), which trains through :class:`~fedseal.client.training.
  LocalTraining` and handles the mode's later messages; any failure there is the mode's to
  answer (abstain or ``AbortRound``).
- **Attestation** of the server's audit checkpoints (:mod:`fedseal.client.attest`).

The transport calls :meth:`SiloAgent.connection_lost` when the stream breaks: the round in
progress is abandoned (masks are never reused; the next round has fresh keys).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.audit.witness import WitnessStore
from fedseal.client.app import SiloApp
from fedseal.client.attest import Attestation
from fedseal.client.masking_silo import MaskingSilo
from fedseal.client.released import FileReleaseLedger
from fedseal.client.silo_modes import PaillierMode, PlaintextMode, SiloMode
from fedseal.client.training import LocalTraining
from fedseal.deploy.files import write_atomic
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy
from fedseal.protocol.hello import Hello, roster_digest
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
        self._audit = audit
        rng = rng or SystemRandomSource()
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._state_path = state_dir / "silo-state.json"
        self._releases = FileReleaseLedger(state_dir / "released-models.json")
        self.last_round = self._load_last_round()

        def audit_event(event: str, round_id: int | None, outcome: str = ev.SUCCESS,
                        **details: Any) -> None:  # fmt: skip
            self._audit_event(event, round_id, outcome, **details)  # looked up on each call

        self._training = training = LocalTraining(
            silo=silo, app=app, fedavg_weight=fedavg_weight, send_metrics=send_metrics,
            rng=rng, audit=audit_event,
        )  # fmt: skip
        ids = {"silo": silo, "deployment_id": deployment_id}
        self._modes: dict[str, SiloMode] = {
            "masking": MaskingSilo(
                **ids, identity_key=identity_key, directory=directory,
                policy=policy or ClientPolicy(), releases=self._releases, training=training,
                rng=rng, audit=audit_event,
            ),
            "none": PlaintextMode(
                **ids, allowed=allow_plaintext, training=training, audit=audit_event
            ),
        }  # fmt: skip
        if paillier is not None:
            self._modes["paillier"] = PaillierMode(
                **ids, paillier=paillier, training=training, audit=audit_event
            )
        self._roster = {name: key.to_bytes().hex() for name, key in directory.items()}
        self._active: SiloMode | None = None
        self._attestation = Attestation(
            **ids, identity_key=identity_key, server_identity=server_identity,
            witness=WitnessStore(state_dir / "witnessed-checkpoints.jsonl"), app=app,
            audit=lambda: self._audit,
        )  # fmt: skip

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

    def hello(self) -> Hello:
        """The first message of every connection: this silo's roster and its app's model."""
        return Hello(
            self.deployment_id, self.silo, roster_digest(self._roster), tuple(sorted(self._roster)),
            self._training.declared(),
        )  # fmt: skip

    def connection_lost(self) -> None:
        """The stream broke: abandon the round in progress (its secrets are dropped)."""
        if self._active is not None:
            self._active.abandon()

    def handle(self, message: c.ToSilo) -> tuple[list[c.ToServer], bool]:
        """Process one server message; returns ``(replies, finished)``."""
        if isinstance(message, c.Finish):
            log.info("server finished the deployment: %s", message.reason)
            for mode in self._modes.values():
                mode.close()
            return [], True
        if isinstance(message, c.TrainRequest):
            return self._on_train(message), False
        if isinstance(message, c.CheckpointRequest):
            replies = self._attestation.cosign(message, current_round=self.last_round)
            self._log_round(message.round_id)
            return replies, False
        if self._active is None or c.round_of(message) != self.last_round:
            if not isinstance(message, m.AbortRound):
                log.info("ignoring %s for a round this silo is not in", type(message).__name__)
            return [], False
        return self._active.receive(message), False

    def _log_round(self, round_id: int) -> None:
        """One line per attested round: did this silo train for it, and its ε after it."""
        epsilon = self._training.contributed.pop(round_id, None)
        if epsilon is None:
            log.info("round %d: aggregate released; this silo did not train for it", round_id)
        else:
            spent = "" if math.isnan(epsilon) else f" (epsilon spent {epsilon:.3f})"
            log.info("round %d: aggregate released; this silo trained for it%s", round_id, spent)

    def _on_train(self, req: c.TrainRequest) -> list[c.ToServer]:
        def abstain(reason: str) -> list[c.ToServer]:
            log.warning("round %d: abstaining: %s", req.round_id, reason)
            return [c.Abstain(self.deployment_id, req.round_id, self.silo, reason)]

        if req.deployment_id != self.deployment_id:
            return abstain("request for another deployment")
        if req.round_id <= self.last_round:
            return abstain(f"round {req.round_id} is not newer than round {self.last_round}")
        if req.aggregation not in c.AGGREGATION_MODES:
            return abstain(f"unknown aggregation {req.aggregation!r}")
        mode = self._modes.get(req.aggregation)
        if mode is None:
            return abstain("no Paillier key: set paillier_public_key and paillier_key_share")
        refusal = mode.refuse(req)
        if refusal is not None:
            return abstain(refusal)
        previous = self.last_round
        self._save_last_round(req.round_id)
        if self._active is not None:
            self._active.abandon()
        self._active = mode
        replies = mode.join(req, previous_round=previous)
        return abstain(replies) if isinstance(replies, str) else replies
