"""Quantization (overflow check, unbiasedness, error bound) and graph parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.graph import (
    GraphKind,
    GraphParams,
    full_parameters,
    minimum_threshold,
    neighbourhoods,
    sparse_parameters,
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
    """Values of the documented formula (module docstring of fedseal.secagg.graph)."""
    assert sparse_parameters(100) == GraphParams(GraphKind.SPARSE, 100, 28, 18)
    assert sparse_parameters(500) == GraphParams(GraphKind.SPARSE, 500, 66, 44)
    assert sparse_parameters(1000) == GraphParams(GraphKind.SPARSE, 1000, 78, 52)
    assert full_parameters(5) == GraphParams(GraphKind.FULL, 5, 4, 4)
    assert full_parameters(100) == GraphParams(GraphKind.FULL, 100, 99, 67)
    # A tiny deployment falls back to the complete graph.
    assert sparse_parameters(3).kind is GraphKind.FULL


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


def test_minimum_threshold_matches_parameters() -> None:
    for n in (10, 100, 500):
        p = sparse_parameters(n)
        assert minimum_threshold(p.kind, n, p.k, corruption=0.05) == p.threshold
        assert minimum_threshold(GraphKind.FULL, n, n - 1, corruption=0.05) == (
            full_parameters(n).threshold
        )


def test_bad_graph_parameters() -> None:
    with pytest.raises(ConfigError):
        GraphParams(GraphKind.FULL, 1, 0, 1)
    with pytest.raises(ConfigError):
        GraphParams(GraphKind.SPARSE, 10, 3, 2)
    with pytest.raises(ConfigError):
        sparse_parameters(10, dropout=1.0)
