from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.paillier import PackingLayout
from fedseal.secagg.quantize import QuantizationSpec


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 300),
    max_value=st.integers(1, 2**40),
    summands=st.integers(1, 50),
    plaintext_bits=st.sampled_from([511, 1023, 2047, 3071]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_of_packed_equals_packed_sum(
    length: int, max_value: int, summands: int, plaintext_bits: int, seed: int
) -> None:
    layout = PackingLayout(
        length=length, max_value=max_value, max_summands=summands, plaintext_bits=plaintext_bits
    )
    rng = np.random.default_rng(seed)
    vectors = [
        rng.integers(0, max_value, length, endpoint=True, dtype=np.uint64) for _ in range(summands)
    ]
    packed = [layout.pack(v) for v in vectors]
    assert all(len(p) == layout.count for p in packed)
    sums = [sum(col) for col in zip(*packed, strict=True)]
    assert all(s < 1 << plaintext_bits for s in sums)  # packed sum stays below N
    np.testing.assert_array_equal(layout.unpack(sums), np.sum(vectors, axis=0, dtype=np.uint64))


def test_layout_for_spec_matches_the_quantization_bound() -> None:
    spec = QuantizationSpec(clip=1.0, bits=16, max_weight=1000, max_silos=10, num_metrics=2)
    layout = PackingLayout.for_spec(spec, dim=100_000, public_key=_FakeKey(2048))  # type: ignore[arg-type]
    assert layout.max_sum == 10 * 1000 * 65535
    assert layout.slot_bits == 30 and layout.slots_per_plaintext == 68
    assert layout.length == 100_004 and layout.count == 1471  # + the metrics' weight


class _FakeKey:
    def __init__(self, bits: int) -> None:
        self.key_bits = bits


def test_slot_wider_than_64_bits_is_refused() -> None:
    with pytest.raises(ConfigError, match="64 bits"):
        PackingLayout(length=4, max_value=2**40, max_summands=2**25, plaintext_bits=2047)


def test_slot_wider_than_plaintext_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not fit"):
        PackingLayout(length=4, max_value=2**40, max_summands=2**10, plaintext_bits=40)


def test_pack_refuses_bad_values() -> None:
    layout = PackingLayout(length=3, max_value=100, max_summands=4, plaintext_bits=511)
    with pytest.raises(ConfigError, match="max_value"):
        layout.pack(np.array([1, 2, 101], dtype=np.uint64))
    with pytest.raises(ConfigError, match="unsigned"):
        layout.pack(np.array([1, 2, 3], dtype=np.int64))
    with pytest.raises(ConfigError, match="3 unsigned"):
        layout.pack(np.array([1, 2], dtype=np.uint64))


def test_unpack_rejects_overflow_and_wrong_count() -> None:
    layout = PackingLayout(length=3, max_value=100, max_summands=4, plaintext_bits=511)
    with pytest.raises(ProtocolViolation, match="expected 1"):
        layout.unpack([0, 0])
    with pytest.raises(ProtocolViolation, match="overflows"):
        layout.unpack([1 << (layout.slots_per_plaintext * layout.slot_bits)])
    with pytest.raises(ProtocolViolation, match="max_sum"):
        layout.unpack([layout.max_sum + 1])


def test_full_size_vector_round_trips() -> None:
    # Speed is measured by `fedseal bench paillier`, not asserted here.
    layout = PackingLayout(length=100_003, max_value=65535000, max_summands=10, plaintext_bits=2047)
    values = np.random.default_rng(0).integers(0, 65535000, 100_003, dtype=np.uint64)
    values[-1] = 65535000
    packed = layout.pack(values)
    assert len(packed) == layout.count
    np.testing.assert_array_equal(layout.unpack(packed), values)
