"""X25519 public-key checks and the agreement cache of ``AgreementKey``.

The small-order u-coordinates come from RFC 7748 §6.1's reasoning (a clamped scalar is a
multiple of the cofactor 8) and match libsodium's blocklist in
``crypto_scalarmult/curve25519/ref10/x25519_ref10.c`` (``has_small_order``), which lists the
same five values plus the non-canonical encodings p and p + 1. The oracle for every case here
is an actual X25519 exchange with a clamped scalar, whose output is all-zero exactly for them.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.hazmat.shamir import PRIME
from fedseal.secagg.keys import SMALL_ORDER_U, AgreementKey, check_public_key

RNG = SeededRandomSource(5)
_CLAMPED = X25519PrivateKey.from_private_bytes(bytes([8]) + bytes(30) + bytes([64]))


def _exchange_refuses(public: bytes) -> bool:
    """The oracle: does X25519 with a clamped scalar give the all-zero secret for this key?"""
    try:
        _CLAMPED.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        return True
    return False


def _refused(public: bytes) -> bool:
    try:
        check_public_key(public)
    except ProtocolViolation:
        return True
    return False


def _encodings(u: int) -> list[bytes]:
    """Every 32-byte string that decodes to u (RFC 7748 §5: top bit ignored, u and u + p)."""
    values = [u] + ([u + PRIME] if u + PRIME < 1 << 255 else [])
    return [(v | top).to_bytes(32, "little") for v in values for top in (0, 1 << 255)]


def test_there_are_five_small_order_u_coordinates_and_each_is_refused_in_every_encoding() -> None:
    assert len(SMALL_ORDER_U) == 5
    for u in SMALL_ORDER_U:
        for public in _encodings(u):
            assert _exchange_refuses(public), u
            assert _refused(public), u


def test_the_check_agrees_with_an_exchange_near_the_edges_of_the_field() -> None:
    edges = [*range(0, 64), *range(PRIME - 64, PRIME), *range((1 << 255) - 64, 1 << 255)]
    for u in edges:
        for public in _encodings(u % (1 << 255)):
            assert _refused(public) == _exchange_refuses(public), u


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_the_check_agrees_with_an_exchange_on_any_key(public: bytes) -> None:
    assert _refused(public) == _exchange_refuses(public)


@pytest.mark.parametrize("public", [b"", bytes(31), bytes(33), "00" * 32])
def test_a_key_of_the_wrong_size_or_type_is_refused(public: object) -> None:
    with pytest.raises(ProtocolViolation, match="32 bytes"):
        check_public_key(public)  # type: ignore[arg-type]


def test_a_remembered_agreement_is_the_one_a_fresh_key_computes() -> None:
    own, peers = AgreementKey.generate(RNG), [AgreementKey.generate(RNG) for _ in range(3)]
    first = [own.agree(p.public_bytes()) for p in peers]
    again = [own.agree(bytearray(p.public_bytes())) for p in reversed(peers)]
    fresh = AgreementKey(own.reveal())
    assert first == again[::-1] == [fresh.agree(p.public_bytes()) for p in peers]
    assert len(set(first)) == 3
    assert first == [p.agree(own.public_bytes()) for p in peers]


def test_a_small_order_peer_is_refused_every_time_not_remembered() -> None:
    own = AgreementKey.generate(RNG)
    for _ in range(2):
        with pytest.raises(ProtocolViolation):
            own.agree(bytes(32))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_the_agreement_is_openssls_x25519_for_any_scalar_and_any_peer(
    scalar: bytes, peer: bytes
) -> None:
    # libsodium computes the agreement (its call releases the GIL); OpenSSL is the oracle,
    # including the refusal of every peer that makes the secret all-zero.
    from fedseal.secagg.hazmat.kdf import x25519

    oracle = X25519PrivateKey.from_private_bytes(scalar)
    try:
        expected: bytes | None = oracle.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        expected = None
    try:
        got: bytes | None = x25519(scalar, peer)
    except ProtocolViolation:
        got = None
    assert got == expected
