"""Per-round secrets of a silo: its two X25519 key pairs and its self-mask seed.

Bonawitz et al. 2017, §4 (round 0 "AdvertiseKeys" and round 1 "ShareKeys"): each silo makes
``(c_sk, c_pk)`` to encrypt the shares it sends, ``(s_sk, s_pk)`` from which its pairwise masks
are agreed, and a self-mask seed ``b``. ``s_sk`` and ``b`` are Shamir-shared, so both are drawn
as elements of the sharing field GF(2^255 - 19) (an X25519 scalar is clamped first, and redrawn
in the 2^-250-likely case that it is not below the prime). All of them are fresh every round.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat.kdf import hkdf, x25519
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.hazmat.shamir import PRIME
from fedseal.secagg.secret import Secret

__all__ = ["AgreementKey", "MaskSeed", "RoundContext", "check_public_key"]

# The u-coordinates (RFC 7748 §5: the top bit masked, reduced mod p) of every point of small
# order on Curve25519 and on its twist: 0 (order 2), 1 (order 4), the two points of order 8,
# and p - 1 (order 4 on the twist). X25519 with a clamped scalar (a multiple of the cofactor 8)
# sends exactly these to the all-zero output (RFC 7748 §6.1), whatever the scalar; libsodium's
# blocklist is the same set written out with its non-canonical encodings p and p + 1.
# tests/secagg/test_keys.py checks each against an actual X25519 exchange.
SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        PRIME - 1,
    }
)
_U_MASK = (1 << 255) - 1


def check_public_key(public: bytes) -> None:
    """Refuse an advertised X25519 public key that is malformed or of small order.

    A small-order key (the all-zero key among them) makes every agreement with it all-zero,
    so the pair masks and share keys of the advertiser's neighbours would be public. The
    advertiser is refused when it advertises, before any honest silo uses the key.

    The check compares the key's u-coordinate with the five small-order ones
    (``SMALL_ORDER_U``) instead of running an X25519 exchange: the same answer, without a
    scalar multiplication per key (a silo checks two keys of every neighbour each round).
    :meth:`AgreementKey.agree` still refuses an all-zero shared secret.

    Raises
    ------
    ProtocolViolation
        If ``public`` is not 32 bytes or is of small order.
    """
    if not isinstance(public, bytes | bytearray) or len(public) != 32:
        raise ProtocolViolation("an X25519 public key is 32 bytes")
    if (int.from_bytes(public, "little") & _U_MASK) % PRIME in SMALL_ORDER_U:
        raise ProtocolViolation("invalid X25519 public key")


class RoundContext:
    """The (deployment id, round id) pair that every key, signature and AEAD binds."""

    __slots__ = ("deployment_id", "round_id")

    def __init__(self, deployment_id: str, round_id: int) -> None:
        if not deployment_id or len(deployment_id) > 128:
            raise ValueError("deployment_id must be 1..128 characters")
        if round_id < 0:
            raise ValueError(f"round_id must be >= 0, got {round_id}")
        self.deployment_id = deployment_id
        self.round_id = round_id

    def fields(self) -> tuple[str, int]:
        """The context as fields for :func:`~fedseal.secagg.identity.signing_payload`."""
        return (self.deployment_id, self.round_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RoundContext):
            return NotImplemented
        return self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.fields())

    def __repr__(self) -> str:
        return f"RoundContext({self.deployment_id!r}, {self.round_id})"


def _field_element(rng: RandomSource, clamp: bool) -> bytes:
    while True:
        raw = bytearray(rng.token_bytes(32))
        value = int.from_bytes(raw, "little")
        if clamp:  # RFC 7748 §5 decodeScalar25519, stored big-endian for sharing
            value &= ~7
            value &= (1 << 255) - 1
            value |= 1 << 254
        else:
            value &= (1 << 255) - 1
        if value < PRIME:
            return value.to_bytes(32, "big")


class MaskSeed(Secret):
    """The self-mask seed ``b`` of one silo for one round (a field element, 32 bytes)."""

    __slots__ = ()
    length = 32

    @classmethod
    def generate(cls, rng: RandomSource) -> MaskSeed:
        """A fresh uniformly random seed."""
        return cls(_field_element(rng, clamp=False))

    def prg_key(self, context: RoundContext) -> bytes:
        """The 16-byte AES-CTR key of the self mask ``PRG(b)`` for this round."""
        return hkdf(self.reveal(), 16, "self-mask", *context.fields())


class AgreementKey(Secret):
    """An X25519 private scalar (clamped, big-endian, below 2^255 - 19).

    :meth:`agree` remembers each peer's shared secret for the key's life (one round): a silo
    agrees with a neighbour's ``c`` key when it seals its shares and again when it opens the
    neighbour's, and the second time costs a dictionary lookup instead of a scalar
    multiplication. The remembered secrets are no more sensitive than the key itself, which
    derives them, and live and die with it.
    """

    __slots__ = ("_agreed", "_private", "_scalar")
    length = 32

    def __init__(self, value: bytes) -> None:
        super().__init__(value)
        self._scalar = self._scalar_le()
        self._private = X25519PrivateKey.from_private_bytes(self._scalar)
        self._agreed: dict[bytes, bytes] = {}

    @classmethod
    def generate(cls, rng: RandomSource) -> AgreementKey:
        """A fresh key pair's private half."""
        return cls(_field_element(rng, clamp=True))

    def _scalar_le(self) -> bytes:
        return int.from_bytes(self.reveal(), "big").to_bytes(32, "little")

    def public_bytes(self) -> bytes:
        """The 32-byte X25519 public key."""
        return self._private.public_key().public_bytes_raw()

    def agree(self, peer_public: bytes) -> bytes:
        """The raw X25519 shared secret with ``peer_public`` (feed it to a KDF, never use raw).

        Raises
        ------
        ProtocolViolation
            If ``peer_public`` is malformed or of small order (the secret would be all-zero).
        """
        peer = bytes(peer_public)
        secret = self._agreed.get(peer)
        if secret is None:
            secret = self._agreed[peer] = x25519(self._scalar, peer)
        return secret
