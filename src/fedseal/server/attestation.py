"""The end of a round: the server's audit checkpoint goes to the survivors to co-sign.

After a released round the server checkpoints its audit log (RFC 6962 tree head, Ed25519) and
sends it to the round's survivors; each answers a co-signature, which is recorded in the
server's log, and a fresh signed checkpoint of its *own* log, which the server verifies against
the silo's identity key and keeps in ``<state_dir>/silo-witness/<silo>.jsonl`` (a second root
for one size is refused and logged loudly: the silo showed two histories). ``fedseal audit
verify --deployment`` checks every silo's log against that store, so a silo log (which holds
its ε) truncated or emptied later no longer verifies. Answers are collected with
:func:`~fedseal.server.events.gather` until ``checkpoint_timeout_s``; a silent silo is logged.
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
from fedseal.server.events import Link, RoundIO, gather

__all__ = ["SILO_WITNESS", "attest", "keep_silo_checkpoint"]

log = logging.getLogger("fedseal.server")

#: Under the server's state directory: one witness store of each silo's own checkpoints.
SILO_WITNESS = "silo-witness"


async def attest(
    io: RoundIO,
    silos: tuple[str, ...],
    *,
    audit: AuditLog,
    links: Mapping[str, Link],
    directory: Mapping[str, IdentityPublicKey],
    deployment_id: str,
    timeout_s: float,
    state_dir: Path,
) -> None:
    """Checkpoint ``audit``, ask ``silos`` to co-sign, record what comes back (see above)."""
    checkpoint = audit.checkpoint(round=io.round_id)
    request = c.CheckpointRequest(
        deployment_id, io.round_id, canonical_bytes(checkpoint.to_record())
    )
    asked = sorted(s for s in silos if s in links)
    for silo in asked:  # co-signing needs no round state: a silo back on a new link may answer
        io.departed.pop(silo, None)
    for silo in asked:
        links[silo].send(request)
    silent: list[str] = []

    def missing(silo: str, reason: str) -> None:
        if reason == "timed out":
            silent.append(silo)

    def cosign(message: c.ToServer) -> bool:
        return isinstance(message, c.CheckpointCosign)

    cosigns = gather(io, asked, timeout_s=timeout_s, missing=missing, answers=cosign)
    async for silo, message in cosigns:
        assert isinstance(message, c.CheckpointCosign)
        try:
            audit.record_cosignature(checkpoint, directory[silo], message.signature)
        except FedsealError as exc:
            log.warning("round %d: bad co-signature from %s: %s", io.round_id, silo, exc)
        if message.silo_checkpoint:
            keep_silo_checkpoint(
                state_dir, io.round_id, silo, directory[silo], message.silo_checkpoint
            )
    if silent:
        log.warning("round %d: no co-signature from %s", io.round_id, silent)


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
