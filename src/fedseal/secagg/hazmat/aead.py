"""Authenticated encryption of Shamir shares: AES-256-GCM (NIST SP 800-38D).

Each ciphertext is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``. The associated data
binds the deployment, the round, the sender and the receiver (DESIGN §3), so a share cannot be
moved to another round, deployment or pair of silos. Decryption failures raise the opaque
:class:`~fedseal.errors.AuthenticationError`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fedseal.errors import AuthenticationError
from fedseal.secagg.hazmat.randomness import RandomSource

__all__ = ["NONCE_BYTES", "TAG_BYTES", "open_sealed", "seal"]

NONCE_BYTES = 12
TAG_BYTES = 16


def seal(key: bytes, plaintext: bytes, associated_data: bytes, rng: RandomSource) -> bytes:
    """Encrypt and authenticate ``plaintext`` under a 32-byte ``key`` with a fresh random nonce."""
    nonce = rng.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Decrypt ``sealed``; raises :class:`AuthenticationError` if anything does not verify."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise AuthenticationError()
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise AuthenticationError() from None
