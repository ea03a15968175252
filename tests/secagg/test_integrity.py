"""Decoding refuses sums that honest contributions cannot produce (AggregateIntegrityError)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import AggregateIntegrityError, ProtocolViolation
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.quantize import QuantizationSpec

DIM = 6


def spec(modulus: int = 64, bits: int = 16) -> QuantizationSpec:
    return QuantizationSpec(
        clip=1.0, bits=bits, max_weight=100, max_silos=8, modulus_bits=modulus, num_metrics=2
    )


def honest(
    s: QuantizationSpec, n: int, *, value: float = 0.0, seed: int = 0
) -> list[npt.NDArray[Any]]:
    rng = SeededRandomSource(seed)
    data = np.random.default_rng(seed)
    return [
        s.encode(
            np.full(DIM, value) if value else data.uniform(-2, 2, DIM),
            weight=s.max_weight,
            metrics=data.uniform(-200, 200, 2),
            rng=rng,
        )
        for _ in range(n)
    ]


def test_is_a_protocol_violation() -> None:
    assert issubclass(AggregateIntegrityError, ProtocolViolation)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 8),
    bits=st.integers(1, 16),
    modulus=st.sampled_from([32, 64]),
    extreme=st.sampled_from([0.0, -5.0, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_honest_sums_always_decode(
    n: int, bits: int, modulus: int, extreme: float, seed: int
) -> None:
    """Even all silos at +clip or -clip with the largest weight stay inside the bounds."""
    s = spec(modulus, bits)
    total = np.sum(honest(s, n, value=extreme, seed=seed), axis=0, dtype=s.dtype)
    decoded = s.decode_sum(total, dim=DIM, contributors=n)
    assert decoded.total_weight == n * s.max_weight
    assert np.all(np.abs(decoded.mean) <= s.clip + 1e-9)
    if extreme:
        assert np.allclose(decoded.mean, np.sign(extreme) * s.clip)


def test_one_silo_sending_a_thousand_times_the_maximum_is_refused() -> None:
    s = spec()
    parts = honest(s, 4)
    forged = parts[0].copy()
    forged[:DIM] = np.uint64(1000 * s.levels * s.max_weight)  # far above levels * w
    total = np.sum([forged, *parts[1:]], axis=0, dtype=s.dtype)
    with pytest.raises(AggregateIntegrityError, match=r"coordinate 0 decodes to .* outside"):
        s.decode_sum(total, dim=DIM, contributors=4)
    # Without the check the forged silo alone would have set the mean near +250 * clip.
    with pytest.raises(AggregateIntegrityError):
        s.decode_sum(total, dim=DIM)


def test_one_coordinate_or_metric_just_past_the_range_is_refused() -> None:
    s = spec()
    parts = honest(s, 3, value=5.0)  # every coordinate exactly at the top: levels * w each
    total = np.sum(parts, axis=0, dtype=s.dtype)
    s.decode_sum(total, dim=DIM, contributors=3)
    over = total.copy()
    over[DIM - 1] += np.uint64(s.max_weight * 3)  # one extra level at the full weight
    with pytest.raises(AggregateIntegrityError, match=f"coordinate {DIM - 1}"):
        s.decode_sum(over, dim=DIM, contributors=3)
    metric = total.copy()
    metric[DIM + 3] = np.uint64(2 * s.levels * 3 * s.max_weight)  # after w and v
    with pytest.raises(AggregateIntegrityError, match=r"metric 1 .* \[-100, 100\]"):
        s.decode_sum(metric, dim=DIM, contributors=3)


def test_total_weight_above_contributors_times_max_weight_is_refused() -> None:
    s = spec()
    total = np.sum(honest(s, 3), axis=0, dtype=s.dtype)
    s.decode_sum(total, dim=DIM, contributors=3)
    with pytest.raises(AggregateIntegrityError, match=r"total weight 300 exceeds 2 contributors"):
        s.decode_sum(total, dim=DIM, contributors=2)
    inflated = total.copy()
    inflated[DIM] += np.uint64(1)
    with pytest.raises(AggregateIntegrityError, match="total weight 301"):
        s.decode_sum(inflated, dim=DIM, contributors=3)


def test_a_32_bit_sum_near_the_modulus_is_checked_exactly() -> None:
    s = spec(modulus=32)
    total = np.sum(honest(s, 8, value=5.0), axis=0, dtype=s.dtype)  # the largest honest sum
    assert int(total[0]) == 8 * s.max_weight * s.levels
    decoded = s.decode_sum(total, dim=DIM, contributors=8)
    assert np.allclose(decoded.mean, s.clip)


# -- metrics that a silo does not send (issue 11: a DP silo sends no un-noised statistic) ------


def test_metrics_not_sent_decode_as_not_collected() -> None:
    s = spec()
    rng = SeededRandomSource(1)
    parts = [s.encode(np.zeros(DIM), weight=10, metrics=None, rng=rng) for _ in range(3)]
    for part in parts:
        assert int(part[DIM + 1]) == 0 and not np.any(part[DIM + 2 :])
    decoded = s.decode_sum(np.sum(parts, axis=0, dtype=s.dtype), dim=DIM, contributors=3)
    assert decoded.metrics is None and decoded.total_weight == 30


def test_metrics_are_averaged_over_the_silos_that_sent_them_only() -> None:
    s = spec()
    rng = SeededRandomSource(2)
    sender = s.encode(np.zeros(DIM), weight=20, metrics=[1.5, 0.75], rng=rng)
    silent = s.encode(np.zeros(DIM), weight=50, metrics=None, rng=rng)
    decoded = s.decode_sum(sender + silent, dim=DIM, contributors=2)
    assert decoded.metrics is not None
    np.testing.assert_allclose(decoded.metrics, [1.5, 0.75], atol=2 * 200 / s.levels)


def test_a_metric_weight_above_the_total_weight_is_refused() -> None:
    s = spec()
    part = s.encode(np.zeros(DIM), weight=10, metrics=[0.0, 0.0], rng=SeededRandomSource(3))
    forged = part.copy()
    forged[DIM + 1] = np.uint64(11)
    with pytest.raises(AggregateIntegrityError, match="metric weight 11 exceeds"):
        s.decode_sum(forged, dim=DIM, contributors=1)
