"""A silo's witness of the server's audit log: verify, keep and co-sign each round's checkpoint.

On ``CheckpointRequest`` the silo verifies the server's signed checkpoint (RFC 6962 tree size
and root, Ed25519) against the server's identity key, stores it
(:class:`~fedseal.audit.witness.WitnessStore`: a second, different checkpoint of the same size
is evidence of a forked history and is refused) and answers its co-signature together with a
fresh signed checkpoint of its own audit log, which the server keeps as a witness of the silo's
log (so a silo log truncated or emptied later fails ``fedseal audit verify --deployment``). The
server attests only rounds whose aggregate it released, so the app's optional
``round_released(round_id)`` is told of the silo's current round: a DP app's ledger then tells
released rounds from sent-then-aborted ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fedseal.audit.canonical import canonical_bytes, decode_canonical
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.log import AuditLog
from fedseal.audit.witness import WitnessStore
from fedseal.client.app import SiloApp
from fedseal.errors import FedsealError
from fedseal.protocol import control as c
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["Attestation"]

log = logging.getLogger("fedseal.client")


class Attestation:
    """Co-signs the server's checkpoints for one silo (see the module docstring)."""

    def __init__(
        self,
        *,
        silo: str,
        deployment_id: str,
        identity_key: IdentityKey,
        server_identity: IdentityPublicKey,
        witness: WitnessStore,
        app: SiloApp,
        audit: Callable[[], AuditLog | None],
    ) -> None:
        self.silo, self.deployment_id = silo, deployment_id
        self._identity, self._server = identity_key, server_identity
        self._witness, self._app, self._audit = witness, app, audit

    def cosign(self, req: c.CheckpointRequest, *, current_round: int) -> list[c.ToServer]:
        """The co-signature of ``req``'s checkpoint, or nothing if it does not verify."""
        try:
            checkpoint = Checkpoint.from_record(decode_canonical(req.checkpoint))
            checkpoint.verify(self._server)
            signature = checkpoint.cosign(self._identity, server_key=self._server)
            self._witness.add(checkpoint)
        except (FedsealError, ValueError, TypeError, KeyError) as exc:
            log.error("refusing to co-sign the server's checkpoint: %s", exc)
            return []
        audit = self._audit()
        own = b""
        if audit is not None:  # the server keeps it as a witness of this silo's log
            own = canonical_bytes(audit.checkpoint(round=req.round_id).to_record())
        released = getattr(self._app, "round_released", None)
        if callable(released) and req.round_id == current_round:
            try:
                released(req.round_id)
            except Exception:  # user code: a failed note must not cost the co-signature
                log.exception("round %d: the app's round_released failed", req.round_id)
        return [c.CheckpointCosign(self.deployment_id, req.round_id, self.silo, signature, own)]
