"""Signed checkpoints of an audit log, and co-signatures by witnesses.

A checkpoint states "the first ``size`` entries of ``party``'s log have RFC 6962 root ``root``
(RFC 6962 §3.5 signed tree head, RFC 9162 §4.10)", signed with the party's Ed25519 identity key
over :func:`fedseal.secagg.identity.signing_payload` bytes::

    signing_payload("audit-checkpoint", party, signer_public_key, size, root, time)

A silo that receives the server's checkpoint verifies that signature against the server key it
pinned at provisioning, then co-signs::

    signing_payload("audit-cosignature", checkpoint_signed_bytes, server_signature)

The server stores the co-signature in its own log (event ``checkpoint_cosigned``); the silo keeps
the checkpoint (:class:`fedseal.audit.witness.WitnessStore`). A server that later shows an
auditor a different history, or re-signs it with another key, contradicts a checkpoint a silo
holds with the server's original signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fedseal.errors import AuditIntegrityError, AuthenticationError
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey, signing_payload

__all__ = ["Checkpoint"]

_HEX = re.compile(r"[0-9a-f]+")


def _unhex(record: dict[str, Any], name: str, length: int) -> bytes:
    value = record.get(name)
    if not isinstance(value, str) or len(value) != 2 * length or not _HEX.fullmatch(value):
        raise AuditIntegrityError(f"checkpoint {name} must be {2 * length} lower-case hex digits")
    return bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of a log's size and Merkle root at a time.

    Attributes
    ----------
    party
        Whose log (the ``party`` field of its entries).
    size
        Number of entries covered: seq ``0 .. size - 1``. The checkpoint entry itself has
        ``seq == size`` and is covered by the next checkpoint.
    root
        RFC 6962 root (32 bytes) of those entries.
    time
        RFC 3339 UTC time, identical to the checkpoint entry's ``time``.
    signer, signature
        The party's Ed25519 identity public key and its 64-byte signature.
    """

    party: str
    size: int
    root: bytes
    time: str
    signer: IdentityPublicKey
    signature: bytes

    @staticmethod
    def payload(party: str, signer: IdentityPublicKey, size: int, root: bytes, time: str) -> bytes:
        """The exact bytes a checkpoint signature covers."""
        return signing_payload("audit-checkpoint", party, signer.to_bytes(), size, root, time)

    @classmethod
    def sign(cls, key: IdentityKey, *, party: str, size: int, root: bytes, time: str) -> Checkpoint:
        """Create and sign a checkpoint with ``key`` (normally called by ``AuditLog``)."""
        signer = key.public_key
        signature = key.sign(cls.payload(party, signer, size, root, time))
        return cls(party, size, root, time, signer, signature)

    def signed_bytes(self) -> bytes:
        """The bytes :attr:`signature` covers."""
        return self.payload(self.party, self.signer, self.size, self.root, self.time)

    def verify(self, key: IdentityPublicKey | None = None) -> None:
        """Check the signature, and that the signer is ``key`` when one is given.

        Raises
        ------
        AuthenticationError
            If the signature does not verify or the signer is not ``key`` (opaque).

        Warnings
        --------
        Without ``key`` this only proves the checkpoint is self-consistent; anyone can make
        one. Pass the party's pinned public key.
        """
        if key is not None and key != self.signer:
            raise AuthenticationError()
        self.signer.verify(self.signed_bytes(), self.signature)

    def cosigned_bytes(self) -> bytes:
        """The bytes a witness's co-signature covers."""
        return signing_payload("audit-cosignature", self.signed_bytes(), self.signature)

    def cosign(self, witness_key: IdentityKey, *, server_key: IdentityPublicKey) -> bytes:
        """Verify this checkpoint against the pinned ``server_key``, then co-sign it.

        Parameters
        ----------
        witness_key
            The co-signing silo's identity key.
        server_key
            The public key the silo pinned for the checkpoint's signer (required: a silo must
            never co-sign a checkpoint it has not checked against a key it trusts).

        Returns
        -------
        bytes
            The 64-byte co-signature, for ``AuditLog.record_cosignature``.

        Raises
        ------
        AuthenticationError
            If the checkpoint is not signed by ``server_key``.
        """
        self.verify(server_key)
        return witness_key.sign(self.cosigned_bytes())

    def verify_cosignature(self, witness: IdentityPublicKey, cosignature: bytes) -> None:
        """Check a witness's co-signature of this checkpoint.

        Raises
        ------
        AuthenticationError
            If it does not verify (opaque).
        """
        witness.verify(self.cosigned_bytes(), cosignature)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (hex for bytes): the witness store's line format."""
        return {
            "party": self.party,
            "root": self.root.hex(),
            "signature": self.signature.hex(),
            "signer": self.signer.to_bytes().hex(),
            "size": self.size,
            "time": self.time,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Checkpoint:
        """Inverse of :meth:`to_record` (does not verify the signature).

        Raises
        ------
        AuditIntegrityError
            If a field is missing or malformed.
        """
        party, size, time = record.get("party"), record.get("size"), record.get("time")
        if not isinstance(party, str) or not party:
            raise AuditIntegrityError("checkpoint party must be a non-empty string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AuditIntegrityError("checkpoint size must be an integer >= 0")
        if not isinstance(time, str):
            raise AuditIntegrityError("checkpoint time must be a string")
        signer = IdentityPublicKey(_unhex(record, "signer", 32))
        return cls(
            party, size, _unhex(record, "root", 32), time, signer, _unhex(record, "signature", 64)
        )

    def __repr__(self) -> str:
        return (
            f"Checkpoint(party={self.party!r}, size={self.size}, root={self.root.hex()[:16]}…, "
            f"time={self.time!r}, signer={self.signer.fingerprint()})"
        )
