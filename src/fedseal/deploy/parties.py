"""Pieces shared by creating a deployment and extending one: party folders, audit records.

Every private key is written with ``O_EXCL`` and mode 0600 (``files.write_new``); the audit
records carry names, fingerprints and key ids only, never key material.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fedseal.deploy import pki
from fedseal.deploy.files import make_private_dir, write_new
from fedseal.deploy.keyfile import identity_key_pem
from fedseal.deploy.paillier_keys import DealtKey, deal_deployment_key
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

if TYPE_CHECKING:
    from fedseal.audit import AuditLog

__all__ = [
    "PaillierRequest",
    "audit_dealt",
    "audit_issued",
    "identity_fingerprint",
    "set_paillier_paths",
    "write_party",
]


def write_party(
    folder: Path, ca_pem: bytes, tls: pki.KeyPair, tls_name: str, identity: IdentityKey
) -> None:
    """A party's folder: CA copy, TLS pair, identity key, state dir (all new files)."""
    make_private_dir(folder)
    write_new(folder / "ca.crt", ca_pem, mode=0o644)
    write_new(folder / f"{tls_name}.crt", tls.cert_pem(), mode=0o644)
    write_new(folder / f"{tls_name}.key", tls.key_pem(), mode=0o600)
    write_new(folder / "identity.key", identity_key_pem(identity), mode=0o600)
    make_private_dir(folder / "state")


def audit_issued(
    audit: AuditLog, action: str, subject: str, deployment: str, cert: str, identity: str | None
) -> None:
    """Record a certificate issued (and the subject's identity-key fingerprint)."""
    from fedseal.audit import events

    details = {"action": action, "subject": subject, "deployment_id": deployment}
    details["cert_fingerprint"] = cert
    if identity is not None:
        details["identity_fingerprint"] = identity
    audit.append(events.PROVISIONING, details=details)


def identity_fingerprint(public_hex: str) -> str:
    """The fingerprint of an Ed25519 public key given in hex."""
    return IdentityPublicKey(bytes.fromhex(public_hex)).fingerprint()


@dataclass(frozen=True, kw_only=True)
class PaillierRequest:
    """What the operator asked for about the Paillier key (see ``provision``)."""

    deal: bool = False
    bits: int = 2048
    allow_insecure: bool = False
    redeal: bool = False
    notify: Callable[[str], None] | None = None

    def make(self, deployment: str, silos: Sequence[str], *, versioned: bool) -> DealtKey:
        """Deal the key (slow: a safe-prime search)."""
        return deal_deployment_key(
            deployment=deployment,
            silos=silos,
            key_bits=self.bits,
            allow_insecure=self.allow_insecure,
            notify=self.notify,
            versioned_names=versioned,
        )


def audit_dealt(audit: AuditLog, deployment: str, dealt: DealtKey) -> None:
    """Record the dealt key's id, size, threshold and share holders."""
    from fedseal.audit import events

    public = dealt.key.public_key
    details: dict[str, object] = {"action": "paillier_key_dealt", "subject": "paillier"}
    details |= {"deployment_id": deployment, "key_id": dealt.key_id, "key_bits": public.key_bits}
    details |= {"threshold": public.threshold, "parties": list(dealt.key.parties)}
    audit.append(events.PROVISIONING, details=details)


def set_paillier_paths(doc: dict[str, object], dealt: DealtKey, *, silo: bool) -> None:
    """Point a server (or silo) config document at the dealt key's files.

    A silo document also gets ``paillier_allow_insecure_bits``: true exactly when the dealt key
    is below ``MIN_SECURE_KEY_BITS`` (dealt with ``paillier_allow_insecure_bits``, tests only),
    since the silo refuses to load such a key otherwise; false again after a re-deal.
    """
    from fedseal.secagg.paillier import MIN_SECURE_KEY_BITS

    doc["paillier_public_key"] = dealt.public_name
    if silo:
        doc["paillier_key_share"] = dealt.share_name
        insecure = dealt.key.public_key.key_bits < MIN_SECURE_KEY_BITS
        doc["paillier_allow_insecure_bits"] = insecure
