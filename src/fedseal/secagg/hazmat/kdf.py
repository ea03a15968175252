"""Key agreement and key derivation: X25519 (RFC 7748) and HKDF-SHA256 (RFC 5869).

Every derived key binds a purpose label and the round context (deployment id, round id) in the
HKDF ``info`` (Bonawitz et al. 2017 §4 derive pairwise seeds with a key agreement followed by a
KDF; binding the round and the deployment is what stops any key or mask from being replayed
across rounds or deployments).
"""

from __future__ import annotations

import nacl.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_scalarmult

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


def x25519(scalar: bytes, peer_public: bytes) -> bytes:
    """The X25519 shared secret of a 32-byte scalar (little-endian, RFC 7748 §5) and a peer key.

    libsodium's ``crypto_scalarmult`` (via PyNaCl): the same function as any RFC 7748
    implementation (the scalar is clamped, the top bit of the u-coordinate ignored; the RFC's
    vectors are in ``tests/vectors/secagg``), and its call releases the GIL, so a server can
    derive many pair keys on several threads (:func:`fedseal.secagg.masking.unmask_sum`).

    Raises
    ------
    ProtocolViolation
        If the peer's key is malformed or of small order (libsodium refuses those, and an
        all-zero shared secret).
    """
    if len(scalar) != 32:
        raise ValueError("an X25519 scalar is 32 bytes")
    peer = bytes(peer_public)
    if len(peer) != 32:
        raise ProtocolViolation("invalid X25519 public key")
    try:
        return bytes(crypto_scalarmult(bytes(scalar), peer))
    except nacl.exceptions.RuntimeError:
        raise ProtocolViolation("invalid X25519 public key") from None
