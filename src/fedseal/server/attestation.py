"""The end of a round: the server's audit checkpoint goes to the survivors to co-sign.

After a released round the server checkpoints its audit log (RFC 6962 tree head, Ed25519) and
sends it to the round's survivors; each answers a co-signature, which is recorded in the
server's log, and a fresh signed checkpoint of its *own* log, which the server verifies against
the silo's identity key and keeps in ``<state_dir>/silo-witness/<silo>.jsonl`` (a second root
for one size is refused and logged loudly: the silo showed two histories). ``fedseal audit
verify --deployment`` checks every silo's log against that store, so a silo log (which holds
its ε) truncated or emptied later no longer verifies. Answers are collected by
:class:`~fedseal.protocol.round_control.RoundControl`'s attest phase until
``checkpoint_timeout_s``, each handed to :func:`record_cosign`; a silent silo is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.canonical import loads as canonical_loads
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.log import AuditLog
from fedseal.audit.witness import WitnessStore
from fedseal.errors import FedsealError
from fedseal.protocol import control as c
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["SILO_WITNESS", "checkpoint_request", "keep_silo_checkpoint", "record_cosign"]

log = logging.getLogger("fedseal.server")

#: Under the server's state directory: one witness store of each silo's own checkpoints.
SILO_WITNESS = "silo-witness"


def checkpoint_request(
    audit: AuditLog, round_id: int, deployment_id: str
) -> tuple[Checkpoint, c.CheckpointRequest]:
    """Checkpoint ``audit``; the checkpoint, and the request that asks survivors to co-sign it."""
    checkpoint = audit.checkpoint(round=round_id)
    record = canonical_bytes(checkpoint.to_record())
    return checkpoint, c.CheckpointRequest(deployment_id, round_id, record)


def record_cosign(
    audit: AuditLog,
    checkpoint: Checkpoint,
    round_id: int,
    silo: str,
    message: c.CheckpointCosign,
    *,
    directory: Mapping[str, IdentityPublicKey],
    state_dir: Path,
) -> None:
    """Record ``silo``'s co-signature of ``checkpoint`` and keep its own checkpoint (above).

    A bad co-signature or silo checkpoint is logged, never raised: it is the silo's failure.
    """
    try:
        audit.record_cosignature(checkpoint, directory[silo], message.signature)
    except FedsealError as exc:
        log.warning("round %d: bad co-signature from %s: %s", round_id, silo, exc)
    if message.silo_checkpoint:
        keep_silo_checkpoint(state_dir, round_id, silo, directory[silo], message.silo_checkpoint)


def keep_silo_checkpoint(
    state_dir: Path, round_id: int, silo: str, key: IdentityPublicKey, blob: bytes
) -> bool:
    """Verify ``silo``'s own checkpoint ``blob`` and keep it; False (logged) if refused."""
    try:
        checkpoint = Checkpoint.from_record(canonical_loads(blob))
        if checkpoint.party != silo:
            raise ValueError(f"a checkpoint of party {checkpoint.party!r}")
        checkpoint.verify(key)
        folder = state_dir / SILO_WITNESS
        folder.mkdir(mode=0o700, exist_ok=True)
        WitnessStore(folder / f"{silo}.jsonl").add(checkpoint)
    except (FedsealError, ValueError, TypeError, KeyError) as exc:
        # A fork of the silo's log (two roots for one size) lands here too: say so loudly.
        log.error("round %d: silo %s's own checkpoint refused: %s", round_id, silo, exc)
        return False
    return True
