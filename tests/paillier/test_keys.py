from __future__ import annotations

import copy
import json
import math
import pickle

import gmpy2
import pytest
from phe import paillier

from fedseal.errors import ConfigError
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.paillier import (
    KeyShare,
    PrimeFactors,
    ThresholdPublicKey,
    deal,
    generate_prime_factors,
    generate_threshold_key,
)

from .conftest import P_256, Q_256, Dealer


def test_pinned_primes_are_safe_primes() -> None:
    for p in (P_256, Q_256):
        assert p.bit_length() == 256
        assert gmpy2.is_prime(p, 50) and gmpy2.is_prime((p - 1) // 2, 50)


def test_dealt_shares_reconstruct_the_exponent(make_key: Dealer) -> None:
    pk, shares = make_key(5, 3)
    p, q = P_256, Q_256
    n, m = p * q, ((p - 1) // 2) * ((q - 1) // 2)
    # Any 3 shares interpolate Delta * d with d = 0 mod m and d = 1 mod N.
    chosen = [shares[0], shares[2], shares[4]]
    idx = [s.index for s in chosen]
    acc = 0
    for s in chosen:
        num, den = pk.delta, 1
        for j in idx:
            if j != s.index:
                num, den = num * j, den * (j - s.index)
        acc += num // den * int(s.exponent())
    d_times_delta = acc % (n * m)
    assert d_times_delta % m == 0
    assert d_times_delta % n == pk.delta % n


def test_verification_keys_match_shares(make_key: Dealer) -> None:
    pk, shares = make_key(4, 2)
    for s in shares:
        expected = pow(pk.verification_base, pk.delta * int(s.exponent()), pk.n_squared)
        assert pk.verification_keys[s.index - 1] == expected


def test_public_key_json_round_trip_and_key_id(make_key: Dealer) -> None:
    pk, _ = make_key(4, 3)
    again = ThresholdPublicKey.from_json(pk.to_json())
    assert again == pk and again.key_id == pk.key_id
    assert "p" not in json.loads(pk.to_json())  # nothing but public values
    other, _ = make_key(4, 3, seed=1)
    assert other.key_id != pk.key_id


def test_tampered_public_key_document_is_refused(make_key: Dealer) -> None:
    pk, _ = make_key(4, 3)
    doc = json.loads(pk.to_json())
    doc["threshold"] = 1
    with pytest.raises(ConfigError, match="key_id"):
        ThresholdPublicKey.from_json(json.dumps(doc))
    with pytest.raises(ConfigError, match="malformed"):
        ThresholdPublicKey.from_json("{}")


def test_public_key_validates_parameters(make_key: Dealer) -> None:
    pk, _ = make_key(3, 2)
    with pytest.raises(ConfigError, match="threshold"):
        ThresholdPublicKey(
            n=pk.n,
            threshold=4,
            verification_base=pk.verification_base,
            verification_keys=pk.verification_keys,
        )
    with pytest.raises(ConfigError, match="unit"):
        ThresholdPublicKey(
            n=pk.n,
            threshold=2,
            verification_base=P_256,
            verification_keys=pk.verification_keys,
        )
    with pytest.raises(ConfigError, match="odd"):
        ThresholdPublicKey(
            n=pk.n + 1,
            threshold=2,
            verification_base=pk.verification_base,
            verification_keys=pk.verification_keys,
        )


def test_public_key_is_phe_compatible(make_key: Dealer) -> None:
    pk, _ = make_key(3, 2)
    assert isinstance(pk.paillier, paillier.PaillierPublicKey)
    assert pk.paillier.n == pk.n and pk.paillier.g == pk.n + 1


def test_key_share_is_a_secret(make_key: Dealer) -> None:
    _, shares = make_key(3, 2)
    share = shares[1]
    assert repr(share) == "KeyShare(index=2, <redacted>)"
    assert str(int(share.exponent())) not in repr(share)
    with pytest.raises(TypeError):
        pickle.dumps(share)
    with pytest.raises(TypeError):
        copy.deepcopy(share)
    again = KeyShare(share.reveal())
    assert again == share and again.index == 2 and again.key_id == share.key_id
    with pytest.raises(ConfigError):
        KeyShare(b"not a share at all, but long enough to parse......")


def test_prime_factors_are_secret_and_checked() -> None:
    factors = PrimeFactors.from_primes(P_256, Q_256)
    assert "redacted" in repr(factors) and hex(P_256)[2:10] not in repr(factors)
    with pytest.raises(TypeError):
        pickle.dumps(factors)
    with pytest.raises(ConfigError, match="safe prime"):
        PrimeFactors.from_primes(P_256 + 2, Q_256)
    with pytest.raises(ConfigError, match="distinct"):
        PrimeFactors.from_primes(P_256, P_256)


def test_deal_refuses_bad_parameters(factors: PrimeFactors) -> None:
    rng = SeededRandomSource(0)
    with pytest.raises(ConfigError, match="allow_insecure"):
        deal(factors, parties=3, threshold=2, rng=rng)
    with pytest.raises(ConfigError, match="threshold"):
        deal(factors, parties=3, threshold=4, rng=rng, allow_insecure=True)
    with pytest.raises(ConfigError, match="threshold"):
        deal(factors, parties=3, threshold=0, rng=rng, allow_insecure=True)


def test_generate_small_key_end_to_end() -> None:
    pk, shares = generate_threshold_key(
        key_bits=512, parties=3, threshold=2, rng=SeededRandomSource(7), allow_insecure=True
    )
    assert pk.key_bits == 512 and len(shares) == 3 and pk.delta == math.factorial(3)
    with pytest.raises(ConfigError, match="below 2048"):
        generate_prime_factors(key_bits=1024, rng=SeededRandomSource(7))
    with pytest.raises(ConfigError, match="even"):
        generate_prime_factors(key_bits=513, rng=SeededRandomSource(7), allow_insecure=True)
