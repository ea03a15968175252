"""The trusted dealer: safe-prime generation and sharing of the decryption exponent.

Run once, at provisioning (Damgård–Jurik 2001, §4.1; Shoup 2000, §2): the dealer draws
``N = p q`` from two safe primes, sets ``m = p' q'`` and ``d = 0 mod m, d = 1 mod N`` (by the
Chinese remainder theorem), picks ``f(X) = d + a_1 X + ... + a_{t-1} X^{t-1}`` with ``a_k``
uniform in ``Z_{N m}``, hands ``s_i = f(i) mod N m`` to silo ``i``, and publishes ``N``, a random
square ``v`` of ``Z*_{N^2}`` and ``v_i = v^(Delta s_i)``. Then it forgets ``p, q, d`` and the
polynomial. The dealer is trusted during dealing (it could keep a copy of ``d``); removing that
trust needs distributed key generation (e.g. Hazay et al., J. Cryptology 2019), future work.

Safe primes ``p = 2p' + 1`` are found by sieving an interval of candidates ``p'`` so that
neither ``p'`` nor ``2p' + 1`` has a prime factor below 2^17, then a base-2 Fermat test on the
survivors, then 25 Miller–Rabin rounds (gmpy2) on both numbers.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import gmpy2
import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.paillier._arith import random_below, random_unit
from fedseal.secagg.paillier.keys import MIN_SECURE_KEY_BITS, KeyShare, ThresholdPublicKey
from fedseal.secagg.secret import Secret

__all__ = ["PrimeFactors", "deal", "generate_prime_factors", "generate_threshold_key"]

_SIEVE_LIMIT = 1 << 17
_SIEVE_WINDOW = 1 << 16
_MR_ROUNDS = 25


@cache
def _small_primes() -> npt.NDArray[np.int64]:
    flags = np.ones(_SIEVE_LIMIT, dtype=bool)
    flags[:2] = False
    for k in range(2, math.isqrt(_SIEVE_LIMIT) + 1):
        if flags[k]:
            flags[k * k :: k] = False
    return np.flatnonzero(flags)[1:]  # odd primes


def _safe_prime(bits: int, rng: RandomSource) -> Any:
    """Return a random safe prime ``p`` of exactly ``bits`` bits with its top two bits set."""
    primes = _small_primes()
    while True:
        # p' has bits-1 bits with its top two set (so p = 2p'+1 has bits bits, top two set), odd;
        # the candidates are p' = start + 2k for k in the window.
        start = random_below(gmpy2.mpz(1) << (bits - 3), rng) | (gmpy2.mpz(3) << (bits - 3)) | 1
        alive = np.ones(_SIEVE_WINDOW, dtype=bool)
        for r in primes.tolist():
            if r >= start:
                break
            inv2 = (r + 1) // 2  # 2^-1 mod r
            rem = int(start % r)
            alive[(-rem * inv2) % r :: r] = False  # r | p'
            alive[((r - 1) // 2 - rem) * inv2 % r :: r] = False  # r | 2p'+1
        for k in np.flatnonzero(alive).tolist():
            q = start + 2 * k
            p = 2 * q + 1
            if p.bit_length() != bits:
                break
            if gmpy2.powmod(2, q - 1, q) != 1 or gmpy2.powmod(2, p - 1, p) != 1:
                continue
            if gmpy2.is_prime(q, _MR_ROUNDS) and gmpy2.is_prime(p, _MR_ROUNDS):
                return p


class PrimeFactors(Secret):
    """The factorization ``N = p q`` (safe primes): the dealer's secret.

    Warnings
    --------
    Whoever holds it decrypts everything. The dealer should pass it to :func:`deal` and drop it;
    it is kept as a type only so that tests can pin small primes.
    """

    __slots__ = ("_p", "_q")

    def __init__(self, value: bytes) -> None:
        super().__init__(value)
        half = len(self._value) // 2
        if len(self._value) % 2 or half == 0:
            raise ConfigError("PrimeFactors takes p || q as two equal-width big-endian fields")
        self._p = gmpy2.mpz(int.from_bytes(self._value[:half], "big"))
        self._q = gmpy2.mpz(int.from_bytes(self._value[half:], "big"))

    @classmethod
    def from_primes(cls, p: int, q: int) -> PrimeFactors:
        """Wrap two safe primes (checked with Miller–Rabin)."""
        for name, x in (("p", p), ("q", q)):
            if not (gmpy2.is_prime(x, _MR_ROUNDS) and gmpy2.is_prime((x - 1) // 2, _MR_ROUNDS)):
                raise ConfigError(f"{name} is not a safe prime")
        if p == q or p.bit_length() != q.bit_length():
            raise ConfigError("p and q must be distinct safe primes of the same bit length")
        width = (max(p, q).bit_length() + 7) // 8
        return cls(p.to_bytes(width, "big") + q.to_bytes(width, "big"))

    def primes(self) -> tuple[Any, Any]:
        """Return ``(p, q)`` (see class warning)."""
        return self._p, self._q


def generate_prime_factors(
    *, key_bits: int, rng: RandomSource, allow_insecure: bool = False
) -> PrimeFactors:
    """Draw two safe primes whose product has exactly ``key_bits`` bits.

    The search time is random: measured here, 0.5-2.4 s for a 2048-bit key and 4-12 s for a
    3072-bit key on one core (gmpy2 primality tests; see ``docs/paillier.md``).

    Raises
    ------
    ConfigError
        If ``key_bits`` is odd, or below 2048 without ``allow_insecure``.
    """
    _check_key_bits(key_bits, allow_insecure)
    p = _safe_prime(key_bits // 2, rng)
    while True:
        q = _safe_prime(key_bits // 2, rng)
        if q != p:
            return PrimeFactors.from_primes(int(p), int(q))


def deal(
    factors: PrimeFactors,
    *,
    parties: int,
    threshold: int,
    rng: RandomSource,
    allow_insecure: bool = False,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Share the decryption key of ``N = p q`` among ``parties`` silos, ``threshold`` needed.

    Returns the public key and the shares, ``shares[i - 1]`` for party ``i``.

    Warnings
    --------
    Run this on the provisioning machine only, send share ``i`` to silo ``i`` alone over an
    authenticated, encrypted channel, and delete ``factors`` afterwards.

    Raises
    ------
    ConfigError
        If ``1 <= threshold <= parties`` fails, or the key is below 2048 bits without
        ``allow_insecure``.
    """
    p, q = factors.primes()
    n = p * q
    _check_key_bits(int(n.bit_length()), allow_insecure)
    if not 1 <= parties < 2**16 or not 1 <= threshold <= parties:
        raise ConfigError(
            f"need 1 <= threshold <= parties < 65536, got threshold={threshold}, parties={parties}"
        )
    m = ((p - 1) // 2) * ((q - 1) // 2)
    nm, n2 = n * m, n * n
    d = m * gmpy2.invert(m, n)  # d = 0 mod m, d = 1 mod N
    coeffs = [d] + [random_below(nm, rng) for _ in range(threshold - 1)]
    shares = []
    for i in range(1, parties + 1):
        s = gmpy2.mpz(0)
        for a in reversed(coeffs):  # Horner
            s = (s * i + a) % nm
        shares.append(s)
    delta = math.factorial(parties)
    v = gmpy2.powmod(random_unit(n2, rng), 2, n2)
    public = ThresholdPublicKey(
        n=int(n),
        threshold=threshold,
        verification_base=int(v),
        verification_keys=tuple(int(gmpy2.powmod(v, delta * s, n2)) for s in shares),
    )
    key_id = public.key_id
    return public, [
        KeyShare.create(index=i, key_id=key_id, value=int(s)) for i, s in enumerate(shares, 1)
    ]


def generate_threshold_key(
    *,
    key_bits: int = MIN_SECURE_KEY_BITS,
    parties: int,
    threshold: int,
    rng: RandomSource,
    allow_insecure: bool = False,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Generate safe primes and :func:`deal` them: the one call provisioning needs.

    Warnings
    --------
    See :func:`deal`. ``rng`` must be a CSPRNG (``SystemRandomSource``) in a deployment.
    """
    factors = generate_prime_factors(key_bits=key_bits, rng=rng, allow_insecure=allow_insecure)
    return deal(
        factors, parties=parties, threshold=threshold, rng=rng, allow_insecure=allow_insecure
    )


def _check_key_bits(key_bits: int, allow_insecure: bool) -> None:
    if key_bits % 2 or key_bits < 256:
        raise ConfigError(f"key_bits must be even and >= 256, got {key_bits}")
    if key_bits < MIN_SECURE_KEY_BITS and not allow_insecure:
        raise ConfigError(
            f"key_bits={key_bits} is below {MIN_SECURE_KEY_BITS}; "
            "pass allow_insecure=True only in tests"
        )
