"""Encryption with precomputed randomness, the server's running sum, and bad ciphertexts."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from phe import paillier

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.paillier import (
    CiphertextSum,
    EncryptedVector,
    Encryptor,
    PackingLayout,
    PrimeFactors,
    ThresholdPublicKey,
)

from .conftest import Dealer


@pytest.fixture
def key(make_key: Dealer) -> ThresholdPublicKey:
    return make_key(3, 2)[0]


def _layout(pk: ThresholdPublicKey, length: int = 50) -> PackingLayout:
    return PackingLayout(
        length=length, max_value=1000, max_summands=3, plaintext_bits=pk.key_bits - 1
    )


def _values(layout: PackingLayout, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1000, layout.length, dtype=np.uint64)


def test_ciphertexts_decrypt_with_the_factorization(
    key: ThresholdPublicKey, factors: PrimeFactors
) -> None:
    layout = _layout(key)
    enc = Encryptor(key, SeededRandomSource(1))
    vec = enc.encrypt(_values(layout), layout, round_id=1)
    p, q = factors.primes()
    private = paillier.PaillierPrivateKey(key.paillier, int(p), int(q))  # phe as the reference
    plain = [private.raw_decrypt(c) for c in vec.ciphertexts]
    np.testing.assert_array_equal(layout.unpack(plain), _values(layout))


def test_precomputed_randomness_is_consumed_once(key: ThresholdPublicKey) -> None:
    layout = _layout(key, 200)
    enc = Encryptor(key, SeededRandomSource(2))
    enc.precompute(layout.count + 1)
    assert enc.precomputed == layout.count + 1 and enc.precomputed_bytes > 0
    a = enc.encrypt(_values(layout), layout, round_id=1)
    assert enc.precomputed == 1 and enc.generated_online == 0
    b = enc.encrypt(_values(layout), layout, round_id=1)  # pool runs dry: made on the spot
    assert enc.precomputed == 0 and enc.generated_online == layout.count - 1
    assert not set(a.ciphertexts) & set(b.ciphertexts)  # same plaintexts, fresh randomness


def test_encryptor_does_not_leak(key: ThresholdPublicKey) -> None:
    enc = Encryptor(key, SeededRandomSource(3))
    enc.precompute(2)
    assert "precomputed=2" in repr(enc)
    with pytest.raises(TypeError):
        pickle.dumps(enc)
    with pytest.raises(ConfigError):
        enc.precompute(-1)


def test_encrypt_refuses_layout_of_another_key_size(key: ThresholdPublicKey) -> None:
    layout = PackingLayout(length=5, max_value=10, max_summands=2, plaintext_bits=2047)
    with pytest.raises(ConfigError, match="key size"):
        Encryptor(key, SeededRandomSource(0)).encrypt(np.zeros(5, np.uint64), layout, round_id=1)


def test_serialization_round_trip(key: ThresholdPublicKey) -> None:
    layout = _layout(key)
    vec = Encryptor(key, SeededRandomSource(4)).encrypt(_values(layout), layout, round_id=9)
    data = vec.to_bytes(key)
    assert len(data) == layout.count * key.ciphertext_bytes
    again = EncryptedVector.from_bytes(data, public_key=key, key_id=vec.key_id, round_id=9)
    assert again == vec
    with pytest.raises(ProtocolViolation, match="multiple"):
        EncryptedVector.from_bytes(data[:-1], public_key=key, key_id=vec.key_id, round_id=9)


def test_bad_ciphertexts_are_rejected_and_leave_the_sum_unchanged(
    key: ThresholdPublicKey, factors: PrimeFactors
) -> None:
    layout = _layout(key)
    good = Encryptor(key, SeededRandomSource(5)).encrypt(_values(layout), layout, round_id=1)
    total = CiphertextSum(key, layout, round_id=1)
    total.add(good)
    before = total.result()
    p, _ = factors.primes()

    def with_first(c: int) -> EncryptedVector:
        return dataclasses.replace(good, ciphertexts=(c, *good.ciphertexts[1:]))

    cases = {
        "out of range": [with_first(0), with_first(key.n_squared), with_first(-5)],
        "not a unit": [with_first(int(p)), with_first(key.n)],
        "another key": [dataclasses.replace(good, key_id=bytes(32))],
        "round": [dataclasses.replace(good, round_id=2)],
        "expected": [
            dataclasses.replace(good, ciphertexts=good.ciphertexts[:-1]),
            dataclasses.replace(good, ciphertexts=(*good.ciphertexts, good.ciphertexts[0])),
        ],
    }
    for match, vectors in cases.items():
        for bad in vectors:
            with pytest.raises(ProtocolViolation, match=match):
                total.add(bad)
    assert total.result() == before and total.contributions == 1


def test_sum_refuses_more_than_max_summands(key: ThresholdPublicKey) -> None:
    layout = _layout(key)
    enc = Encryptor(key, SeededRandomSource(6))
    total = CiphertextSum(key, layout, round_id=1)
    for _ in range(3):
        total.add(enc.encrypt(_values(layout), layout, round_id=1))
    with pytest.raises(ProtocolViolation, match="max_summands"):
        total.add(enc.encrypt(_values(layout), layout, round_id=1))
    with pytest.raises(ConfigError, match="no contribution"):
        CiphertextSum(key, layout, round_id=1).result()
