"""Who masks with whom: the complete graph, or the sparse SecAgg+ graph with its parameters.

Bonawitz et al. (2017) pair every silo with every other one. Bell et al. (CCS 2020, "Secure
single-server aggregation with (poly)logarithmic overhead", §3-4) show that a random k-regular
graph with ``k = O(log n)`` keeps the same guarantees with high probability; like them we use a
Harary graph (a ring where each node is joined to the ``k/2`` nearest on each side) laid over a
random permutation of the silos, seeded from the round's advertised keys.

Parameter choice (:func:`sparse_parameters`), for ``n`` silos of which at most ``a = floor(gamma
n)`` are corrupt and at most ``D = floor(delta n)`` drop out, statistical security ``sigma``
(default 40) and correctness ``eta`` (default 20); the smallest even ``k`` such that

1. the surviving honest silos stay connected: removing ``a + D`` nodes disconnects a Harary
   ring only if it removes ``k/2`` consecutive nodes in two places; by a union bound over the
   ``n (n - k - 1) / 2`` pairs of places, ``P <= n(n-k-1)/2 * C(n-k, a+D-k) / C(n, a+D)``,
   which must be below ``2^-(sigma+1)``;
2. ``A``, the number of corrupt neighbours of a silo, is hypergeometric(n, a, k); ``a_max`` is
   the smallest value with ``P[A > a_max] <= 2^-(sigma+1) / n``;
3. the threshold ``t = floor((k + 1 + a_max) / 2) + 1`` (shares go to the closed neighbourhood
   of ``k + 1`` silos); then two different survivor sets cannot both be signed by ``t``
   members of one neighbourhood unless they overlap in more than ``a_max`` silos, which the
   corrupt ones cannot fill (the malicious-server consistency argument of Bonawitz et al. §4);
4. ``S``, the number of surviving neighbours, is hypergeometric(n, n - D, k) and must satisfy
   ``P[S < t] <= 2^-eta / n``, so every dropped silo can still be unmasked.

The same reasoning gives the threshold of the complete graph: ``t = floor((n + a) / 2) + 1``,
and at least ``floor(2n/3) + 1`` as in Bonawitz et al. §4.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import Enum

from fedseal.errors import ConfigError

__all__ = [
    "GraphKind",
    "GraphParams",
    "full_parameters",
    "minimum_threshold",
    "neighbourhoods",
    "sparse_parameters",
]

SECURITY_BITS = 40
CORRECTNESS_BITS = 20


class GraphKind(Enum):
    """The masking graph."""

    FULL = "full"
    SPARSE = "sparse"


@dataclass(frozen=True)
class GraphParams:
    """Graph kind, number of silos ``n``, degree ``k`` and Shamir threshold ``t``."""

    kind: GraphKind
    n: int
    k: int
    threshold: int

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ConfigError(f"secure aggregation needs at least 2 silos, got n={self.n}")
        if not 1 <= self.k <= self.n - 1:
            raise ConfigError(f"degree k must be in 1..{self.n - 1}, got {self.k}")
        if self.kind is GraphKind.FULL and self.k != self.n - 1:
            raise ConfigError("the full graph has degree n - 1")
        if self.kind is GraphKind.SPARSE and self.k % 2:
            raise ConfigError(f"a Harary graph needs an even degree, got k={self.k}")
        if not 2 <= self.threshold <= self.k + 1:
            raise ConfigError(f"threshold must be in 2..{self.k + 1}, got {self.threshold}")


def _rate(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


def full_parameters(n: int, *, corruption: float = 0.05) -> GraphParams:
    """Complete graph with the malicious-server threshold ``max((n+a)//2, 2n//3) + 1``."""
    _rate("corruption", corruption)
    corrupt = math.floor(corruption * n + 1e-12)
    t = max((n + corrupt) // 2, (2 * n) // 3) + 1
    return GraphParams(GraphKind.FULL, n, n - 1, min(t, n))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _hypergeom_pmf(population: int, marked: int, draws: int) -> list[float]:
    out = []
    for x in range(draws + 1):
        if x > marked or draws - x > population - marked:
            out.append(0.0)
        else:
            out.append(
                math.exp(
                    _log_comb(marked, x)
                    + _log_comb(population - marked, draws - x)
                    - _log_comb(population, draws)
                )
            )
    return out


def _sparse_threshold(n: int, k: int, corrupt: int, security: float) -> int:
    pmf = _hypergeom_pmf(n, corrupt, k)
    tail, a_max = 0.0, 0
    for x in range(k, -1, -1):
        if tail + pmf[x] > security / n:
            a_max = x
            break
        tail += pmf[x]
    return (k + 1 + a_max) // 2 + 1


def minimum_threshold(
    kind: GraphKind, n: int, k: int, *, corruption: float, security_bits: int = SECURITY_BITS
) -> int:
    """The smallest threshold a silo accepts for a graph, given its own corruption bound.

    Silos check the server's parameters with this before sharing anything: a malicious server
    could otherwise pick a threshold low enough to collect both kinds of shares.
    """
    _rate("corruption", corruption)
    if kind is GraphKind.FULL:
        return full_parameters(n, corruption=corruption).threshold
    corrupt = math.floor(corruption * n + 1e-12)
    return _sparse_threshold(n, k, corrupt, 2.0 ** -(security_bits + 1))


def sparse_parameters(
    n: int,
    *,
    corruption: float = 0.05,
    dropout: float = 0.1,
    security_bits: int = SECURITY_BITS,
    correctness_bits: int = CORRECTNESS_BITS,
) -> GraphParams:
    """Smallest Harary degree ``k`` and its threshold ``t`` meeting conditions 1-4 above.

    Falls back to the complete graph when no ``k < n - 1`` qualifies (small ``n``).
    """
    _rate("corruption", corruption)
    _rate("dropout", dropout)
    corrupt = math.floor(corruption * n + 1e-12)
    dropped = math.floor(dropout * n + 1e-12)
    bad = corrupt + dropped
    security = 2.0 ** -(security_bits + 1)
    for k in range(2, n - 1, 2):
        if k <= bad:
            log_p = (
                math.log(n)
                + math.log(n - k - 1)
                - math.log(2)
                + _log_comb(n - k, bad - k)
                - _log_comb(n, bad)
            )
            if log_p >= math.log(security):
                continue
        t = _sparse_threshold(n, k, corrupt, security)
        survivors = _hypergeom_pmf(n, n - dropped, k)
        if sum(survivors[:t]) <= 2.0**-correctness_bits / n:
            return GraphParams(GraphKind.SPARSE, n, k, t)
    return full_parameters(n, corruption=corruption)


def _permutation(n: int, seed: bytes) -> list[int]:
    """Fisher-Yates shuffle of 1..n driven by SHA-256(seed || counter), rejection-sampled."""
    order = list(range(1, n + 1))
    counter = 0
    for i in range(n - 1, 0, -1):
        bound = i + 1
        limit = (1 << 64) - (1 << 64) % bound
        while True:
            digest = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
            value = int.from_bytes(digest[:8], "big")
            if value < limit:
                break
        j = value % bound
        order[i], order[j] = order[j], order[i]
    return order


def neighbourhoods(params: GraphParams, seed: bytes) -> dict[int, frozenset[int]]:
    """Open neighbourhoods of silo indices ``1..n`` (a silo is never its own neighbour)."""
    everyone = frozenset(range(1, params.n + 1))
    if params.kind is GraphKind.FULL:
        return {i: everyone - {i} for i in everyone}
    ring = _permutation(params.n, seed)
    half = params.k // 2
    out: dict[int, frozenset[int]] = {}
    for pos, silo in enumerate(ring):
        out[silo] = frozenset(
            ring[(pos + step) % params.n] for step in range(-half, half + 1) if step != 0
        )
    return out
