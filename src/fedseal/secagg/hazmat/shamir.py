"""Shamir secret sharing over GF(2^255 - 19), with batched reconstruction.

Shamir (1979), "How to share a secret". A 32-byte secret ``s`` (a big-endian integer that must be
below the prime ``P = 2^255 - 19``; fedseal draws its secrets as field elements, see
:mod:`fedseal.secagg.keys`) is the constant term of a random polynomial ``f`` of degree
``t - 1``; share ``i`` is ``(x_i, f(x_i))`` with distinct non-zero ``x_i``. Any ``t`` shares
determine ``f(0) = s`` by Lagrange interpolation; any ``t - 1`` shares are uniformly distributed
and reveal nothing.

Secure aggregation (Bonawitz et al. 2017, §4) reconstructs many secrets whose shares come from
the *same* responders. ``lagrange_at_zero`` computes the coefficients once per set of
x-coordinates and ``reconstruct_many`` applies them to every secret, so reconstructing ``m``
secrets costs ``O(t^2 + m*t)`` field operations instead of ``O(m*t^2)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.hazmat.randomness import RandomSource

__all__ = [
    "PRIME",
    "SECRET_BYTES",
    "Share",
    "lagrange_at_zero",
    "reconstruct",
    "reconstruct_many",
    "split",
]

#: The field modulus, the prime 2^255 - 19 (Bernstein 2006).
PRIME = (1 << 255) - 19
#: Length of secrets and of encoded shares, in bytes.
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Share:
    """One share: the point ``(x, y)`` of the sharing polynomial. ``y`` is secret material."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not 0 < self.x < PRIME or not 0 <= self.y < PRIME:
            raise ProtocolViolation("share coordinates out of range")

    def __repr__(self) -> str:
        return f"Share(x={self.x}, y=<redacted>)"

    def to_bytes(self) -> bytes:
        """32-byte big-endian encoding of ``y``; ``x`` is implied by who holds the share."""
        return self.y.to_bytes(SECRET_BYTES, "big")

    @classmethod
    def from_bytes(cls, x: int, data: bytes) -> Share:
        """Inverse of :meth:`to_bytes`; refuses wrong lengths and values outside the field."""
        if len(data) != SECRET_BYTES:
            raise ProtocolViolation(f"share must be {SECRET_BYTES} bytes, got {len(data)}")
        return cls(x, int.from_bytes(data, "big"))


def split(secret: bytes, xs: Sequence[int], threshold: int, rng: RandomSource) -> list[Share]:
    """Share ``secret`` at the points ``xs`` so that any ``threshold`` of them reconstruct it.

    Parameters
    ----------
    secret : bytes
        32 bytes whose big-endian value is below ``PRIME``.
    xs : sequence of int
        Distinct x-coordinates in ``1 .. 2^20`` (fedseal uses silo indices 1..n).
    threshold : int
        ``1 <= threshold <= len(xs)``.
    rng : RandomSource
        Source of the polynomial's coefficients.
    """
    value = int.from_bytes(secret, "big")
    if len(secret) != SECRET_BYTES or value >= PRIME:
        raise ConfigError(f"secret must be {SECRET_BYTES} bytes encoding a value below 2^255-19")
    if len(set(xs)) != len(xs) or any(not 0 < x <= 1 << 20 for x in xs):
        raise ConfigError("x-coordinates must be distinct and in 1 .. 2^20")
    if not 1 <= threshold <= len(xs):
        raise ConfigError(f"threshold must be in 1..{len(xs)}, got {threshold}")
    # Coefficients uniform in GF(P): 48 random bytes reduced mod P have bias below 2^-128.
    high_first = [
        int.from_bytes(rng.token_bytes(48), "big") % PRIME for _ in range(threshold - 1)
    ] + [value]
    shares = []
    for x in xs:
        # Horner's rule with one reduction at the end: x is small, so y stays a few hundred bits.
        y = 0
        for c in high_first:
            y = y * x + c
        shares.append(Share(x, y % PRIME))
    return shares


def _batch_inverse(values: Sequence[int]) -> list[int]:
    """Invert every value mod PRIME with one modular inversion (Montgomery's trick)."""
    prefix = [1]
    for v in values:
        prefix.append(prefix[-1] * v % PRIME)
    inverse = pow(prefix[-1], -1, PRIME)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inverse * prefix[i] % PRIME
        inverse = inverse * values[i] % PRIME
    return out


#: x-coordinates below this bound take the vectorised path of :func:`_scaled_denominators`.
_SMALL_X = 1 << 31


def _scaled_denominators(xs: tuple[int, ...]) -> list[int]:
    """``x_j * prod_{m != j} (m - x_j)`` for each ``x_j`` of ``xs``, exactly (not reduced).

    These are ``t`` products of ``t`` factors each. For the small x-coordinates fedseal uses
    (silo indices), numpy multiplies the factors in groups whose product still fits an int64
    exactly (``|product| < 2^62``), so Python's big integers see ``t / g`` factors per row
    instead of ``t``, ``g = 62 // bits``; that is what keeps reconstructing one secret per
    silo of a large round (a different set of holders for each) affordable.
    """
    if min(xs) > 0 and max(xs) < _SMALL_X:
        a = np.asarray(xs, dtype=np.int64)
        factors = a[np.newaxis, :] - a[:, np.newaxis]  # factors[j, m] = x_m - x_j
        np.fill_diagonal(factors, a)  # the x_j factor takes the place of (x_j - x_j)
        bits = max(int(a.max()), int(a.max() - a.min())).bit_length()
        group = max(1, 62 // bits)
        width = -(-len(xs) // group) * group
        padded = np.ones((len(xs), width), dtype=np.int64)
        padded[:, : len(xs)] = factors
        packed = padded.reshape(len(xs), width // group, group).prod(axis=2)
        return [math.prod(row) for row in packed.tolist()]
    return [j * math.prod([m - j for m in xs if m != j]) for j in xs]


@lru_cache(maxsize=256)
def lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """Lagrange coefficients ``l_j`` with ``f(0) = sum_j l_j * f(xs[j])`` for distinct ``xs``."""
    if not xs or len(set(xs)) != len(xs):
        raise ConfigError("need distinct x-coordinates")
    # l_j = prod_{m != j} m / (m - j) = prod xs / (x_j * prod_{m != j} (m - j)). The x's are
    # small integers, so each denominator is an exact product of small ints reduced once;
    # all inverses come from one batched inversion.
    total = math.prod(xs) % PRIME
    inverses = _batch_inverse([d % PRIME for d in _scaled_denominators(xs)])
    return tuple(total * inverse % PRIME for inverse in inverses)


def reconstruct(shares: Sequence[Share], threshold: int) -> bytes:
    """Reconstruct a secret from at least ``threshold`` shares (it uses the first ``threshold``).

    Raises
    ------
    ProtocolViolation
        If fewer than ``threshold`` distinct shares are given.
    """
    if len({s.x for s in shares}) != len(shares):
        raise ProtocolViolation("duplicate share x-coordinates")
    if len(shares) < threshold:
        raise ProtocolViolation(f"need {threshold} shares, got {len(shares)}")
    chosen = shares[:threshold]
    return reconstruct_many(tuple(s.x for s in chosen), [[s.y for s in chosen]])[0]


def reconstruct_many(xs: tuple[int, ...], ys: Sequence[Sequence[int]]) -> list[bytes]:
    """Reconstruct one secret per row of ``ys``, all shared at the same points ``xs``.

    The Lagrange coefficients are computed once (and cached per ``xs``); each secret then costs
    ``len(xs)`` multiplications and a single reduction.

    Parameters
    ----------
    xs : tuple of int
        The x-coordinates, exactly as many as the threshold.
    ys : sequence of sequences of int
        ``ys[i][j]`` is the share of secret ``i`` at ``xs[j]``.
    """
    coefficients = lagrange_at_zero(xs)
    out = []
    for row in ys:
        if len(row) != len(xs):
            raise ProtocolViolation(f"need {len(xs)} shares per secret, got {len(row)}")
        value = sum(map(operator.mul, coefficients, row)) % PRIME
        out.append(value.to_bytes(SECRET_BYTES, "big"))
    return out
