"""Fixtures for the Paillier tests: small pinned safe primes, so no test generates a key.

The primes were drawn once with ``fedseal.secagg.paillier.dealer._safe_prime`` and
``SystemRandomSource`` (see tests/vectors/paillier/README.md); ``test_keys.py`` re-checks that
they are safe primes. They give a 512-bit modulus: far too small for anything but tests, hence
``allow_insecure=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.paillier import KeyShare, PrimeFactors, ThresholdPublicKey, deal

P_256 = 0xD4E0E86A06B6D7BDFE61E8FE4168B457AC85CAF50AEB09DD7BFB3ECEA4F2A3AF
Q_256 = 0xE3B275DE21BA0B9AC5C118E0A2187ED44C8361682E58D82CA08AD2517933446B

Dealer = Callable[..., tuple[ThresholdPublicKey, list[KeyShare]]]


@pytest.fixture(scope="session")
def factors() -> PrimeFactors:
    return PrimeFactors.from_primes(P_256, Q_256)


@pytest.fixture(scope="session")
def make_key(factors: PrimeFactors) -> Dealer:
    """Deal a fresh 512-bit threshold key: ``make_key(parties, threshold, seed=0)``."""
    cache: dict[tuple[int, int, int], tuple[ThresholdPublicKey, list[KeyShare]]] = {}

    def make(
        parties: int, threshold: int, seed: int = 0
    ) -> tuple[ThresholdPublicKey, list[KeyShare]]:
        key = (parties, threshold, seed)
        if key not in cache:
            cache[key] = deal(
                factors,
                parties=parties,
                threshold=threshold,
                rng=SeededRandomSource(seed),
                allow_insecure=True,
            )
        return cache[key]

    return make
