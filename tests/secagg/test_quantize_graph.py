"""Quantization (overflow check, unbiasedness, error bound) and graph parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.graph import (
    ClosedNeighbourhoods,
    GraphKind,
    GraphParams,
    full_parameters,
    neighbourhoods,
    round_parameters,
    sparse_parameters,
    sparse_threshold,
)
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.quantize import QuantizationSpec


def test_overflow_is_refused_before_the_round_with_the_parameters_named() -> None:
    with pytest.raises(ConfigError) as info:
        QuantizationSpec(clip=1.0, bits=16, max_weight=1000, max_silos=100)
    message = str(info.value)
    for part in ("max_silos", "max_weight", "bits", "100", "1000", "2^16", "2^32"):
        assert part in message
    # The same parameters fit in 64 bits.
    QuantizationSpec(clip=1.0, bits=16, max_weight=1000, max_silos=100, modulus_bits=64)


@pytest.mark.parametrize(
    "kwargs",
    [{"clip": 0.0}, {"clip": float("nan")}, {"bits": 0}, {"bits": 33}, {"max_weight": 0},
     {"max_silos": 0}, {"modulus_bits": 16}, {"num_metrics": -1}],
)  # fmt: skip
def test_bad_quantization_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        QuantizationSpec(**{"clip": 1.0, "max_weight": 10, "max_silos": 10, **kwargs})


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 8),
    dim=st.integers(1, 50),
    bits=st.integers(2, 16),
    seed=st.integers(0, 2**16),
    modulus=st.sampled_from([32, 64]),
)
def test_decoded_mean_is_within_one_step(
    n: int, dim: int, bits: int, seed: int, modulus: int
) -> None:
    spec = QuantizationSpec(
        clip=2.0, bits=bits, max_weight=50, max_silos=8, modulus_bits=modulus, num_metrics=2
    )
    data = np.random.default_rng(seed)
    rng = SeededRandomSource(seed)
    updates = [data.uniform(-3, 3, dim) for _ in range(n)]
    weights = [int(w) for w in data.integers(1, 51, n)]
    metrics = [data.uniform(0, 1, 2) for _ in range(n)]
    total = np.zeros(spec.encoded_length(dim), dtype=spec.dtype)
    for u, w, m in zip(updates, weights, metrics, strict=True):
        total += spec.encode(u, weight=w, metrics=m, rng=rng)
    decoded = spec.decode_sum(total, dim=dim)
    mean = sum(w * np.clip(u, -2, 2) for u, w in zip(updates, weights, strict=True)) / sum(weights)
    assert decoded.total_weight == sum(weights)
    assert np.max(np.abs(decoded.mean - mean)) <= spec.mean_error_bound() + 1e-12


def test_stochastic_rounding_is_unbiased() -> None:
    spec = QuantizationSpec(clip=1.0, bits=2, max_weight=1, max_silos=1)
    x = np.full(200_000, 0.1)  # lies between two levels of the 2-bit grid
    q = spec.encode(x, weight=1, rng=SeededRandomSource(3))[:-1].astype(np.float64)
    mean = q.mean() * spec.step - 1.0
    assert abs(mean - 0.1) < 4 * spec.step / np.sqrt(x.size)


def test_encode_and_decode_refuse_bad_input() -> None:
    spec = QuantizationSpec(clip=1.0, max_weight=10, max_silos=10)
    rng = SeededRandomSource(1)
    with pytest.raises(ConfigError, match="NaN"):
        spec.encode([0.0, np.nan], weight=1, rng=rng)
    with pytest.raises(ConfigError, match="weight"):
        spec.encode([0.0], weight=11, rng=rng)
    with pytest.raises(ProtocolViolation):
        spec.decode_sum(np.zeros(5, dtype=np.uint64), dim=4)
    with pytest.raises(ProtocolViolation, match="weight 0"):
        spec.decode_sum(np.zeros(5, dtype=np.uint32), dim=4)


def test_graph_parameters_pinned() -> None:
    """Values of the documented formula (module docstring of fedseal.secagg.graph).

    ``a = floor(0.05 N)`` colluders for a roster of ``N = n`` silos.
    """
    assert sparse_parameters(100, corrupt=5) == GraphParams(GraphKind.SPARSE, 100, 34, 24)
    assert sparse_parameters(500, corrupt=25) == GraphParams(GraphKind.SPARSE, 500, 112, 83)
    assert sparse_parameters(1000, corrupt=50) == GraphParams(GraphKind.SPARSE, 1000, 192, 148)
    assert full_parameters(5) == GraphParams(GraphKind.FULL, 5, 4, 4)
    assert full_parameters(100, corrupt=5) == GraphParams(GraphKind.FULL, 100, 99, 67)
    assert full_parameters(20, corrupt=10) == GraphParams(GraphKind.FULL, 20, 19, 16)
    # A tiny deployment falls back to the complete graph.
    assert sparse_parameters(3).kind is GraphKind.FULL
    # The formula: complete up to full_graph_max, sparse above.
    assert round_parameters(100, corrupt=5) == full_parameters(100, corrupt=5)
    assert round_parameters(101, corrupt=5).kind is GraphKind.SPARSE
    assert round_parameters(100, corrupt=5, full_graph_max=0).kind is GraphKind.SPARSE


def test_no_round_is_possible_with_fewer_than_a_plus_two_silos() -> None:
    with pytest.raises(ConfigError, match="at least 4 silos"):
        full_parameters(3, corrupt=2)
    assert full_parameters(4, corrupt=2).threshold == 4


@pytest.mark.parametrize("corrupt", [0, 1, 3, 10])
@pytest.mark.parametrize("n", [30, 101, 400])
def test_sparse_parameters_meet_consistency_and_connectivity(n: int, corrupt: int) -> None:
    p = sparse_parameters(n, corrupt=corrupt)
    if p.kind is GraphKind.SPARSE:
        assert corrupt < p.k // 2
        assert 2 * p.threshold > p.k + 1 + corrupt  # consistency, any placement
        assert p.threshold >= p.k // 2 + corrupt + 2  # connectivity of honest survivors
        assert p.threshold == sparse_threshold(p.k, corrupt)


@pytest.mark.parametrize("n", [2, 5, 40, 101])
def test_neighbourhoods_are_symmetric_and_regular(n: int) -> None:
    for params in (full_parameters(n), sparse_parameters(n)):
        nb = neighbourhoods(params, b"seed")
        assert set(nb) == set(range(1, n + 1))
        assert all(len(v) == params.k and i not in v for i, v in nb.items())
        assert all(i in nb[j] for i, v in nb.items() for j in v)
    if n > 40:
        sparse = sparse_parameters(n)
        assert neighbourhoods(sparse, b"a") != neighbourhoods(sparse, b"b")


@pytest.mark.parametrize("n", [2, 5, 40, 101])
def test_closed_neighbourhoods_by_name_are_the_graph_plus_the_silo(n: int) -> None:
    names = [f"silo-{i:03d}" for i in range(n)]
    for params in (full_parameters(n), sparse_parameters(n)):
        closed = ClosedNeighbourhoods(params, b"seed", names)
        expected = {
            names[i - 1]: frozenset(names[j - 1] for j in nb) | {names[i - 1]}
            for i, nb in neighbourhoods(params, b"seed").items()
        }
        assert dict(closed) == expected and list(closed) == names and len(closed) == n
        assert "stranger" not in closed
        with pytest.raises(KeyError):
            closed["stranger"]


def test_closed_neighbourhoods_are_built_only_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A silo needs the sets of its k neighbours, not of all n silos: building all n in each of
    # n silos was O(n^2 k) time and memory (8.8 GB at n = 1000).
    built: list[int] = []
    original = ClosedNeighbourhoods._build

    def counting(self: ClosedNeighbourhoods, index: int) -> frozenset[str]:
        built.append(index)
        return original(self, index)

    monkeypatch.setattr(ClosedNeighbourhoods, "_build", counting)
    names = [f"silo-{i:03d}" for i in range(200)]
    params = sparse_parameters(200)
    closed = ClosedNeighbourhoods(params, b"seed", names)
    assert built == []
    own = closed["silo-007"]
    for v in own:
        assert closed[v] is closed[v]  # built once, then kept
    assert len(built) == len(own) == params.k + 1 < len(names)


def test_bad_graph_parameters() -> None:
    with pytest.raises(ConfigError):
        GraphParams(GraphKind.FULL, 1, 0, 1)
    with pytest.raises(ConfigError):
        GraphParams(GraphKind.SPARSE, 10, 3, 2)
    with pytest.raises(ConfigError):
        sparse_parameters(10, dropout=1.0)
