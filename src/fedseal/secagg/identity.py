"""Long-term Ed25519 identity keys of the server and each silo (RFC 8032, via PyNaCl).

Issued at provisioning. A silo signs its per-round key advertisement and its consistency-check
answer with it (Bonawitz et al. 2017, §4, malicious variant); every party signs its audit
checkpoints with it. Signatures always cover a domain-separated, length-prefixed encoding of the
fields, so a signature made for one purpose cannot be replayed for another.
"""

from __future__ import annotations

import hashlib
import hmac

import nacl.exceptions
import nacl.signing

from fedseal.errors import AuthenticationError, ConfigError
from fedseal.secagg.secret import Secret

__all__ = ["IdentityKey", "IdentityPublicKey", "encode_field", "signing_payload"]


def signing_payload(purpose: str, *fields: bytes | str | int) -> bytes:
    """Encode ``fields`` unambiguously under a ``purpose`` label, for signing or hashing.

    Each field is tagged with its type and length-prefixed, so no two different field lists
    encode to the same bytes.
    """
    out = bytearray(b"fedseal/v1/")
    out += purpose.encode() + b"\x00"
    for field in fields:
        out += encode_field(field)
    return bytes(out)


def encode_field(field: bytes | str | int) -> bytes:
    """One field of :func:`signing_payload`: a type tag, a 4-byte length, the data.

    Exposed so that a caller can hash a payload's constant head once and append the fields
    that vary (``transcript.share_commitment``) and still hash exactly ``signing_payload``.
    """
    if type(field) is bytes:  # the common cases first: this runs ~10^5 times a round (n = 100)
        return b"b" + len(field).to_bytes(4, "big") + field
    if type(field) is str:
        data = field.encode("utf-8")
        return b"s" + len(data).to_bytes(4, "big") + data
    if isinstance(field, bool):
        raise TypeError("bool fields are ambiguous; use int")
    if isinstance(field, int):
        if field < 0:
            raise ValueError("integer fields must be >= 0")
        data, tag = field.to_bytes(8, "big"), b"i"
    elif isinstance(field, str):
        data, tag = field.encode("utf-8"), b"s"
    else:
        data, tag = bytes(field), b"b"
    return tag + len(data).to_bytes(4, "big") + data


class IdentityPublicKey:
    """An Ed25519 verification key: who a party is."""

    __slots__ = ("_key",)

    def __init__(self, key_bytes: bytes) -> None:
        if len(key_bytes) != 32:
            raise ConfigError(f"an Ed25519 public key is 32 bytes, got {len(key_bytes)}")
        self._key = nacl.signing.VerifyKey(bytes(key_bytes))

    def to_bytes(self) -> bytes:
        """The 32-byte encoding (RFC 8032 §5.1.5)."""
        return bytes(self._key)

    def fingerprint(self) -> str:
        """First 16 hex digits of SHA-256 of the key: for humans, logs and audit records."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check ``signature`` over ``message``.

        Raises
        ------
        AuthenticationError
            If it does not verify (opaque: no reason given).
        """
        try:
            self._key.verify(message, bytes(signature))
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            raise AuthenticationError() from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdentityPublicKey):
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"IdentityPublicKey({self.fingerprint()})"


class IdentityKey(Secret):
    """An Ed25519 signing key (its 32-byte seed). Secret: redacted, never pickled or logged."""

    __slots__ = ("_signing",)
    length = 32

    def __init__(self, seed: bytes) -> None:
        super().__init__(seed)
        self._signing = nacl.signing.SigningKey(self._value)

    @classmethod
    def generate(cls) -> IdentityKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def public_key(self) -> IdentityPublicKey:
        """The matching :class:`IdentityPublicKey`."""
        return IdentityPublicKey(bytes(self._signing.verify_key))

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return bytes(self._signing.sign(message).signature)
