"""Key agreement and key derivation: X25519 (RFC 7748) and HKDF-SHA256 (RFC 5869).

Every derived key binds a purpose label and the round context (deployment id, round id) in the
HKDF ``info`` (Bonawitz et al. 2017 §4 derive pairwise seeds with a key agreement followed by a
KDF; binding the round and the deployment is what stops any key or mask from being replayed
across rounds or deployments).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedseal.errors import ProtocolViolation
from fedseal.secagg.identity import signing_payload

__all__ = ["hkdf", "x25519"]


def hkdf(ikm: bytes, length: int, purpose: str, *context: bytes | str | int) -> bytes:
    """HKDF-SHA256 of ``ikm`` with ``info`` = the unambiguous encoding of purpose and context."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=None,
        info=signing_payload("kdf/" + purpose, *context),
    ).derive(ikm)


def x25519(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """The X25519 shared secret.

    Raises
    ------
    ProtocolViolation
        If the peer's key is malformed or of small order (the shared secret would be all-zero).
    """
    try:
        peer = X25519PublicKey.from_public_bytes(bytes(peer_public))
        return private.exchange(peer)
    except ValueError:
        raise ProtocolViolation("invalid X25519 public key") from None
