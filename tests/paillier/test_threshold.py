"""Packed encrypt -> homomorphic sum -> threshold decrypt -> unpack, and misbehaving silos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.paillier import (
    CiphertextSum,
    EncryptedVector,
    Encryptor,
    KeyShare,
    PackingLayout,
    PartialDecryption,
    ThresholdPublicKey,
    combine,
    decode,
    partial_decrypt,
    verify_partial,
)
from fedseal.secagg.quantize import QuantizationSpec

from .conftest import Dealer

ROUND = 3


def _round(
    pk: ThresholdPublicKey, spec: QuantizationSpec, dim: int, senders: list[int], seed: int
) -> tuple[PackingLayout, EncryptedVector, np.ndarray]:
    """Every silo in ``senders`` encodes a random update; returns the aggregate and the sum."""
    rng = SeededRandomSource(seed)
    data = np.random.default_rng(seed)
    layout = PackingLayout.for_spec(spec, dim=dim, public_key=pk)
    total = CiphertextSum(pk, layout, round_id=ROUND)
    expected = np.zeros(layout.length, dtype=np.uint64)
    for _ in senders:
        encoded = spec.encode(
            data.normal(0, 0.5, dim),
            weight=int(data.integers(1, spec.max_weight + 1)),
            metrics=data.uniform(-1, 1, spec.num_metrics),
            rng=rng,
        )
        enc = Encryptor(pk, rng)
        enc.precompute(layout.count)
        total.add(enc.encrypt(encoded, layout, round_id=ROUND))
        expected += encoded.astype(np.uint64)
    return layout, total.result(), expected


def _partials(
    pk: ThresholdPublicKey,
    shares: list[KeyShare],
    aggregate: EncryptedVector,
    layout: PackingLayout,
    who: list[int],
) -> list[PartialDecryption]:
    rng = SeededRandomSource(99)
    return [
        partial_decrypt(shares[i - 1], pk, aggregate, layout=layout, round_id=ROUND, rng=rng)
        for i in who
    ]


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_threshold_decryption_of_packed_sum_equals_quantized_sum(
    make_key: Dealer, data: st.DataObject
) -> None:
    parties = data.draw(st.integers(1, 6), label="parties")
    t = data.draw(st.integers(1, parties), label="threshold")
    pk, shares = make_key(parties, t)
    senders = data.draw(
        st.lists(st.integers(1, parties), min_size=1, max_size=parties, unique=True),
        label="senders (the rest dropped out)",
    )
    deciders = data.draw(st.permutations(range(1, parties + 1)), label="decryption order")
    deciders = deciders[: data.draw(st.integers(t, parties), label="decrypting silos")]
    dim = data.draw(st.integers(1, 40), label="dim")
    spec = QuantizationSpec(
        clip=1.0,
        bits=data.draw(st.integers(1, 16), label="bits"),
        max_weight=data.draw(st.integers(1, 50), label="max_weight"),
        max_silos=parties,
        num_metrics=data.draw(st.integers(0, 3), label="metrics"),
        modulus_bits=64,
    )
    layout, aggregate, expected = _round(pk, spec, dim, senders, seed=data.draw(st.integers(0, 9)))
    parts = _partials(pk, shares, aggregate, layout, deciders)
    result = combine(pk, aggregate, parts, layout=layout, round_id=ROUND)
    assert len(result.used) == t and set(result.used) <= set(deciders) and not result.rejected
    np.testing.assert_array_equal(layout.unpack(list(result.plaintexts)), expected)
    decoded = decode(spec, layout, result.plaintexts, dim=dim)
    assert decoded.total_weight == int(expected[dim])


@pytest.fixture
def setup(
    make_key: Dealer,
) -> tuple[ThresholdPublicKey, list[KeyShare], PackingLayout, EncryptedVector, np.ndarray]:
    pk, shares = make_key(5, 3)
    spec = QuantizationSpec(clip=1.0, bits=12, max_weight=20, max_silos=5, num_metrics=1)
    layout, aggregate, expected = _round(pk, spec, 60, [1, 2, 4, 5], seed=1)
    assert layout.count >= 2
    return pk, shares, layout, aggregate, expected


def test_fewer_than_t_partials_cannot_be_combined(setup) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    parts = _partials(pk, shares, aggregate, layout, [1, 2])
    with pytest.raises(RoundAbortedError, match="threshold is 3"):
        combine(pk, aggregate, parts, layout=layout, round_id=ROUND)
    # Nor do t - 1 partials combined as if they were enough give the plaintext.
    forged = dataclasses.replace(pk, threshold=2)
    with pytest.raises(ProtocolViolation):
        combine(forged, aggregate, parts, layout=layout, round_id=ROUND)


def _tamper(
    part: PartialDecryption, j: int, factor: int, pk: ThresholdPublicKey
) -> PartialDecryption:
    values = list(part.values)
    values[j] = values[j] * factor % pk.n_squared
    return dataclasses.replace(part, values=tuple(values))


def test_wrong_partial_decryption_is_caught_and_excluded(setup) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, expected = setup
    parts = _partials(pk, shares, aggregate, layout, [1, 2, 3, 4])
    bad = _tamper(parts[1], 1, 1 + pk.n, pk)  # shifts the plaintext: the attack that matters
    with pytest.raises(AuthenticationError):
        verify_partial(pk, aggregate, bad, layout=layout, round_id=ROUND)
    result = combine(
        pk, aggregate, [parts[0], bad, parts[2], parts[3]], layout=layout, round_id=ROUND
    )
    assert result.used == (1, 3, 4)
    assert [i for i, _ in result.rejected] == [2]
    np.testing.assert_array_equal(layout.unpack(list(result.plaintexts)), expected)


def test_too_few_valid_partials_abort(setup) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    parts = _partials(pk, shares, aggregate, layout, [1, 2, 3])
    bad = _tamper(parts[2], 0, 2, pk)
    with pytest.raises(RoundAbortedError, match=r"rejected parties \[3\]"):
        combine(pk, aggregate, [parts[0], parts[1], bad], layout=layout, round_id=ROUND)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: dataclasses.replace(
            p, proof=dataclasses.replace(p.proof, response=p.proof.response + 1)
        ),
        lambda p: dataclasses.replace(p, proof=dataclasses.replace(p.proof, challenge=bytes(32))),
        lambda p: dataclasses.replace(p, index=p.index % 5 + 1),  # replayed as another party
        lambda p: dataclasses.replace(p, values=p.values[::-1]),
    ],
    ids=["response", "challenge", "index", "swapped-values"],
)
def test_bad_proofs_are_rejected(setup, change) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    (part,) = _partials(pk, shares, aggregate, layout, [2])
    verify_partial(pk, aggregate, part, layout=layout, round_id=ROUND)
    with pytest.raises(AuthenticationError):
        verify_partial(pk, aggregate, change(part), layout=layout, round_id=ROUND)


def test_partial_for_another_aggregate_or_round_is_rejected(setup) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    (part,) = _partials(pk, shares, aggregate, layout, [2])
    other = dataclasses.replace(
        aggregate,
        ciphertexts=(aggregate.ciphertexts[0] * 7 % pk.n_squared, *aggregate.ciphertexts[1:]),
    )
    with pytest.raises(AuthenticationError):
        verify_partial(pk, other, part, layout=layout, round_id=ROUND)
    with pytest.raises(ProtocolViolation, match="round"):
        verify_partial(pk, aggregate, part, layout=layout, round_id=ROUND + 1)


def test_sign_flip_is_rejected_because_proofs_bind_the_exact_partials(setup) -> None:  # type: ignore[no-untyped-def]
    # Times -1 is an element of order 2: squaring in the proof would absorb it, but the proof
    # is also bound to the digest of the claimed partials, so any change to them is refused.
    pk, shares, layout, aggregate, expected = setup
    parts = _partials(pk, shares, aggregate, layout, [1, 2, 3, 4])
    flipped = _tamper(parts[0], 0, pk.n_squared - 1, pk)
    with pytest.raises(AuthenticationError):
        verify_partial(pk, aggregate, flipped, layout=layout, round_id=ROUND)
    result = combine(pk, aggregate, [flipped, *parts[1:]], layout=layout, round_id=ROUND)
    assert result.used == (2, 3, 4)
    np.testing.assert_array_equal(layout.unpack(list(result.plaintexts)), expected)


def test_malformed_partials_are_rejected(setup) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    (part,) = _partials(pk, shares, aggregate, layout, [1])
    cases = {
        "key id": dataclasses.replace(part, key_id=bytes(32)),
        "expected": dataclasses.replace(part, values=part.values[:-1]),
        "range": dataclasses.replace(part, values=(pk.n_squared, *part.values[1:])),
        "unknown party": dataclasses.replace(part, index=6),
    }
    for match, bad in cases.items():
        with pytest.raises(ProtocolViolation, match=match):
            verify_partial(pk, aggregate, bad, layout=layout, round_id=ROUND)


def test_duplicate_indices_and_foreign_shares_are_misuse(setup, make_key: Dealer) -> None:  # type: ignore[no-untyped-def]
    pk, shares, layout, aggregate, _ = setup
    parts = _partials(pk, shares, aggregate, layout, [1, 2, 3])
    with pytest.raises(ConfigError, match="same party"):
        combine(pk, aggregate, [parts[0], parts[0], parts[1]], layout=layout, round_id=ROUND)
    _, other_shares = make_key(5, 3, seed=1)
    with pytest.raises(ConfigError, match=r"another|belong"):
        partial_decrypt(
            other_shares[0], pk, aggregate, layout=layout, round_id=ROUND, rng=SeededRandomSource(0)
        )


def test_phe_ciphertexts_decrypt_under_the_threshold_key(make_key: Dealer) -> None:
    # Cross-check against an independent implementation: phe's raw_encrypt (g = N + 1).
    pk, shares = make_key(4, 2)
    layout = PackingLayout(
        length=1, max_value=2**40, max_summands=1, plaintext_bits=pk.key_bits - 1
    )
    x = 123456789012345
    c = int(pk.paillier.raw_encrypt(x, r_value=987654321))
    agg = EncryptedVector(key_id=pk.key_id, round_id=ROUND, ciphertexts=(c,))
    parts = _partials(pk, shares, agg, layout, [4, 2])
    assert combine(pk, agg, parts, layout=layout, round_id=ROUND).plaintexts == (x,)
