"""Shamir, PRG, KDF/AEAD and secret types: known answers, properties and misuse."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation
from fedseal.secagg.hazmat import aead, shamir
from fedseal.secagg.hazmat.prg import MaskExpander, keystream_uint32
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.identity import IdentityKey, signing_payload
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext

RNG = SeededRandomSource(7)


def _secret(rng: SeededRandomSource) -> bytes:
    return (int.from_bytes(rng.token_bytes(32), "big") % shamir.PRIME).to_bytes(32, "big")


@settings(max_examples=60, deadline=None)
@given(
    xs=st.one_of(
        st.lists(st.integers(1, 2**11), min_size=1, max_size=160, unique=True),
        st.lists(st.integers(2**31 - 99, 2**31 + 99), min_size=1, max_size=20, unique=True),
        st.lists(st.integers(1, 2**40), min_size=1, max_size=20, unique=True),
        st.lists(st.integers(1, shamir.PRIME - 1), min_size=1, max_size=8, unique=True),
    )
)
def test_lagrange_coefficients_match_their_definition(xs: list[int]) -> None:
    # Small x's (silo indices) take the vectorised path, larger ones the plain one; both must
    # give l_j = prod_{m != j} x_m / (x_m - x_j) in GF(P).
    p = shamir.PRIME
    expected = []
    for j in xs:
        numerator = denominator = 1
        for m in xs:
            if m != j:
                numerator = numerator * m % p
                denominator = denominator * (m - j) % p
        expected.append(numerator * pow(denominator, -1, p) % p)
    assert shamir.lagrange_at_zero(tuple(xs)) == tuple(expected)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), data=st.data())
def test_any_t_shares_reconstruct_and_fewer_do_not(n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    rng = SeededRandomSource(data.draw(st.integers(0, 2**32)))
    secret = _secret(rng)
    shares = shamir.split(secret, list(range(1, n + 1)), t, rng)
    subset = data.draw(st.lists(st.sampled_from(shares), min_size=t, max_size=n, unique=True))
    assert shamir.reconstruct(subset, t) == secret
    if t > 1:
        with pytest.raises(ProtocolViolation):
            shamir.reconstruct(subset[: t - 1], t)
        # t - 1 shares interpolated as if they were enough give an unrelated value.
        assert shamir.reconstruct(subset[: t - 1], t - 1) != secret


def test_batched_reconstruction_matches_one_by_one() -> None:
    secrets = [_secret(RNG) for _ in range(20)]
    xs = list(range(1, 11))
    sets = [shamir.split(s, xs, 7, RNG) for s in secrets]
    chosen = (2, 3, 5, 7, 8, 9, 10)
    ys = [[sh.y for sh in shares if sh.x in chosen] for shares in sets]
    assert shamir.reconstruct_many(chosen, ys) == secrets


def test_shamir_misuse_is_refused() -> None:
    with pytest.raises(ConfigError):
        shamir.split(b"\xff" * 32, [1, 2, 3], 2, RNG)  # not below the prime
    with pytest.raises(ConfigError):
        shamir.split(bytes(32), [1, 1, 2], 2, RNG)
    with pytest.raises(ConfigError):
        shamir.split(bytes(32), [1, 2], 3, RNG)
    with pytest.raises(ProtocolViolation):
        shamir.Share.from_bytes(1, b"\x00" * 31)
    assert "redacted" in repr(shamir.Share(1, 5))


def test_prg_is_aes_ctr_from_counter_zero() -> None:
    """Known answer: word i of the keystream is AES_k(block counter) read little-endian.

    The reference is computed independently with AES-ECB over the counter blocks 0, 1, 2, ...
    (NIST SP 800-38A §6.5 defines CTR mode this way).
    """
    key = bytes(range(16))
    blocks = b"".join(i.to_bytes(16, "big") for i in range(300))
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # reference only
    expected = np.frombuffer(ecb.update(blocks), dtype="<u4")
    assert np.array_equal(keystream_uint32(key, 1200), expected)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
@pytest.mark.parametrize("length", [0, 1, 17, 70_001])
def test_masks_cancel_exactly(dtype: type, length: int) -> None:
    keys = [RNG.token_bytes(16) for _ in range(5)]
    acc = np.arange(length, dtype=dtype)
    expander = MaskExpander(dtype)
    expander.apply(acc, add=keys[:3], subtract=keys[3:])
    if length > 100:
        assert not np.array_equal(acc, np.arange(length, dtype=dtype))
    expander.apply(acc, add=keys[3:], subtract=keys[:3])
    assert np.array_equal(acc, np.arange(length, dtype=dtype))


def test_expander_refuses_wrong_accumulator() -> None:
    with pytest.raises(ValueError, match="accumulator"):
        MaskExpander(np.uint32).apply(np.zeros(4, dtype=np.int64), add=[bytes(16)])
    with pytest.raises(ValueError, match="16 bytes"):
        MaskExpander(np.uint32).apply(np.zeros(4, dtype=np.uint32), add=[bytes(15)])


def test_aead_binds_associated_data() -> None:
    key = RNG.token_bytes(32)
    sealed = aead.seal(key, b"share", b"round 1 a->b", RNG)
    assert aead.open_sealed(key, sealed, b"round 1 a->b") == b"share"
    for bad_ad, bad_ct in ((b"round 2 a->b", sealed), (b"round 1 a->b", sealed[:-1] + b"\x00")):
        with pytest.raises(AuthenticationError):
            aead.open_sealed(key, bad_ct, bad_ad)


def test_agreement_is_symmetric_and_bound_to_round() -> None:
    from fedseal.secagg.masking import pair_key

    a, b = AgreementKey.generate(RNG), AgreementKey.generate(RNG)
    ctx1, ctx2 = RoundContext("dep", 1), RoundContext("dep", 2)
    k_ab = pair_key(a, b.public_bytes(), ctx1, 3, 9)
    assert k_ab == pair_key(b, a.public_bytes(), ctx1, 9, 3)
    assert k_ab != pair_key(a, b.public_bytes(), ctx2, 3, 9)
    assert k_ab != pair_key(a, b.public_bytes(), RoundContext("other", 1), 3, 9)
    with pytest.raises(ProtocolViolation):
        a.agree(bytes(32))  # small-order point
    seed = MaskSeed.generate(RNG)
    assert seed.prg_key(ctx1) != seed.prg_key(ctx2)


@pytest.mark.parametrize(
    "secret",
    [MaskSeed.generate(RNG), AgreementKey.generate(RNG), IdentityKey.generate()],
)
def test_secrets_are_redacted_unpicklable_unhashable(secret: object) -> None:
    assert "redacted" in repr(secret) and "redacted" in str(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        hash(secret)


def test_signing_payload_is_unambiguous() -> None:
    assert signing_payload("p", "ab", "c") != signing_payload("p", "a", "bc")
    assert signing_payload("p", 1) != signing_payload("p", "1")
    assert signing_payload("p", b"x") != signing_payload("q", b"x")
