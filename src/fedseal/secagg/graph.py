"""Who masks with whom: the complete graph, or the sparse SecAgg+ graph with its parameters.

Bonawitz et al. (2017) pair every silo with every other one. Bell et al. (CCS 2020, "Secure
single-server aggregation with (poly)logarithmic overhead", §3-4) show that a ``k``-regular
graph with ``k = O(log n)`` can keep the guarantees; like them we use a Harary graph (a ring
where each node is joined to the ``k/2`` nearest on each side) laid over a permutation of the
silos. The permutation is seeded by the digest of the round's parameters, which every silo
signs *before* any round key exists, so neither the server nor a silo can steer the layout by
choosing keys or by choosing whose keys form U1.

The one formula (:func:`round_parameters`) for ``n`` participants, of which at most ``a``
(an absolute number, from the silo's provisioned roster ``N`` and corruption rate:
``a = floor(gamma N)``, never from the server's ``n``) collude with the server:

- **Complete graph** for ``n <= full_graph_max`` (default 100), and whenever no sparse degree
  qualifies: ``t = max(floor((n + a) / 2), floor(2n / 3)) + 1``, which needs ``n >= a + 2``
  (Bonawitz et al. §4, malicious variant). Two survivor sets signed by ``t`` silos each share
  more than ``a`` signers, so at least one honest silo signed both, which it never does.
- **Sparse graph** otherwise: the smallest even ``k`` with ``a < k/2`` such that, with
  ``t = max(floor((k + 1 + a) / 2) + 1, k/2 + a + 2)``:

  1. *consistency* -- ``2t > k + 1 + a``: two survivor sets cannot both gather ``t``
     signatures inside one closed neighbourhood (``k + 1`` silos) unless an honest silo signed
     both; this holds for *any* placement of the ``a`` corrupt silos, so no probabilistic
     bound on how many land next to one silo is needed;
  2. *connectivity* -- ``t >= k/2 + a + 2``: a gap of ``k/2`` consecutive ring positions
     without an honest survivor would lie inside the closed neighbourhood of the honest
     survivor next to it, which then holds at most ``k/2 + 1`` honest signers plus at most
     ``a`` corrupt ones, fewer than ``t``; without such a gap the honest survivors stay
     connected, so the server only learns the sum of all of them, whatever the layout and
     whatever silos it declares dropped;
  3. *correctness* -- with ``D = floor(delta n)`` silos dropping at random, the number ``S``
     of surviving neighbours is hypergeometric(n, n - D, k) and ``P[S < t] <= 2^-eta / n``
     (``eta`` = 20), so every dropped silo can still be unmasked.

Conditions 1 and 2 are deterministic: they hold however the layout falls. The layout only
affects condition 3 (availability).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from fedseal.errors import ConfigError

__all__ = [
    "FULL_GRAPH_MAX",
    "ClosedNeighbourhoods",
    "GraphKind",
    "GraphParams",
    "corrupt_count",
    "full_parameters",
    "neighbourhoods",
    "round_parameters",
    "sparse_parameters",
    "sparse_threshold",
]

CORRECTNESS_BITS = 20
#: Rounds of at most this many silos use the complete graph (a provisioned setting).
FULL_GRAPH_MAX = 100


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


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def corrupt_count(roster_size: int, corruption: float) -> int:
    """Tolerated colluding silos ``a = floor(corruption * roster_size)``, from the roster."""
    _rate("corruption", corruption)
    _count("roster_size", roster_size)
    return math.floor(corruption * roster_size + 1e-12)


def full_parameters(n: int, *, corrupt: int = 0) -> GraphParams:
    """Complete graph with the malicious-server threshold ``max((n+a)//2, 2n//3) + 1``.

    Raises
    ------
    ConfigError
        If ``n < a + 2``: no threshold can then keep two honest silos in every sum.
    """
    _count("corrupt", corrupt)
    t = max((n + corrupt) // 2, (2 * n) // 3) + 1
    if n < corrupt + 2:  # then t - a < 2: a sum could hold one honest input and colluders
        raise ConfigError(
            f"{n} silos cannot hide one input from a server colluding with {corrupt} of them; "
            f"a round needs at least {corrupt + 2} silos"
        )
    return GraphParams(GraphKind.FULL, n, n - 1, t)


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


def sparse_threshold(k: int, corrupt: int) -> int:
    """Threshold of a Harary graph of degree ``k`` against ``corrupt`` colluders (conds. 1-2)."""
    return max((k + 1 + corrupt) // 2 + 1, k // 2 + corrupt + 2)


def sparse_parameters(
    n: int,
    *,
    corrupt: int = 0,
    dropout: float = 0.1,
    correctness_bits: int = CORRECTNESS_BITS,
) -> GraphParams:
    """Smallest Harary degree ``k`` and its threshold ``t`` meeting conditions 1-3 above.

    Falls back to the complete graph when no ``k < n - 1`` qualifies (small ``n``).
    """
    _count("corrupt", corrupt)
    _rate("dropout", dropout)
    dropped = math.floor(dropout * n + 1e-12)
    for k in range(2, n - 1, 2):
        if corrupt >= k // 2:
            continue
        t = sparse_threshold(k, corrupt)
        if t > k + 1:
            continue
        survivors = _hypergeom_pmf(n, n - dropped, k)
        if sum(survivors[:t]) <= 2.0**-correctness_bits / n:
            return GraphParams(GraphKind.SPARSE, n, k, t)
    return full_parameters(n, corrupt=corrupt)


def round_parameters(
    n: int, *, corrupt: int, dropout: float = 0.1, full_graph_max: int = FULL_GRAPH_MAX
) -> GraphParams:
    """The one documented formula: the graph, ``k`` and ``t`` a round of ``n`` silos must use.

    Both the server (to propose) and every silo (to check) call this with their provisioned
    settings; a silo refuses any proposal with another graph kind, another ``k`` or a smaller
    ``t``.
    """
    _count("full_graph_max", full_graph_max)
    if n <= full_graph_max:
        return full_parameters(n, corrupt=corrupt)
    return sparse_parameters(n, corrupt=corrupt, dropout=dropout)


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


@lru_cache(maxsize=8)
def _ring(n: int, seed: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ring of a round's layout and, at ``positions[i]``, the ring position of silo ``i``.

    Cached: every party of a round derives the same public layout from the same digest, and
    parties simulated in one process need not shuffle ``n`` silos once each.
    """
    ring = tuple(_permutation(n, seed))
    positions = [0] * (n + 1)
    for pos, silo in enumerate(ring):
        positions[silo] = pos
    return ring, tuple(positions)


def neighbourhoods(params: GraphParams, seed: bytes) -> dict[int, frozenset[int]]:
    """Open neighbourhoods of silo indices ``1..n`` (a silo is never its own neighbour)."""
    everyone = frozenset(range(1, params.n + 1))
    if params.kind is GraphKind.FULL:
        return {i: everyone - {i} for i in everyone}
    ring, _ = _ring(params.n, seed)
    half = params.k // 2
    out: dict[int, frozenset[int]] = {}
    for pos, silo in enumerate(ring):
        out[silo] = frozenset(
            ring[(pos + step) % params.n] for step in range(-half, half + 1) if step != 0
        )
    return out


class ClosedNeighbourhoods(Mapping[str, frozenset[str]]):
    """The closed neighbourhood (the silo and its neighbours) of every silo, by name.

    The same graph as :func:`neighbourhoods`, but each silo's set is built the first time it
    is asked for and then kept: a silo needs the sets of its ``k`` neighbours only, and
    building all ``n`` of them in each of ``n`` silos costs ``O(n^2 k)`` time and memory.

    Parameters
    ----------
    params : GraphParams
        The round's graph.
    seed : bytes
        The round digest, which seeds the sparse layout.
    names : sequence of str
        The participants, sorted: ``names[i - 1]`` is the silo of index ``i``.
    """

    def __init__(self, params: GraphParams, seed: bytes, names: Sequence[str]) -> None:
        if len(names) != params.n or len(set(names)) != params.n:
            raise ConfigError(f"need {params.n} distinct silo names, got {len(names)}")
        self._params = params
        self._names = tuple(names)
        self._index = {silo: i for i, silo in enumerate(self._names, start=1)}
        self._seed = bytes(seed)
        self._everyone = frozenset(self._names)  # every closed neighbourhood of a full graph
        self._cache: dict[str, frozenset[str]] = {}

    def __getitem__(self, silo: str) -> frozenset[str]:
        closed = self._cache.get(silo)
        if closed is None:
            closed = self._cache[silo] = self._build(self._index[silo])  # KeyError: not in round
        return closed

    def _build(self, index: int) -> frozenset[str]:
        if self._params.kind is GraphKind.FULL:
            return self._everyone
        n, half = self._params.n, self._params.k // 2
        ring, positions = _ring(n, self._seed)
        pos, names = positions[index], self._names
        return frozenset(names[ring[(pos + step) % n] - 1] for step in range(-half, half + 1))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, silo: object) -> bool:
        return silo in self._index
