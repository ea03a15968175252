"""Canonical JSON: sorted keys, no whitespace, UTF-8, refusals, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedseal.audit.canonical import MAX_SAFE_INTEGER, canonical_bytes, decode_canonical
from fedseal.errors import ConfigError


def test_known_encodings() -> None:
    assert canonical_bytes({"b": 1, "a": [True, None, 1.5, 'é\n"\\']}) == (
        '{"a":[true,null,1.5,"é\\n\\"\\\\"],"b":1}'.encode()
    )
    assert canonical_bytes({"x": 1e-7, "y": 1e16, "z": 0.1}) == b'{"x":1e-07,"y":1e+16,"z":0.1}'
    assert canonical_bytes({"\u2028": "\x7f\x01"}) == '{"\u2028":"\x7f\\u0001"}'.encode()


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), {1: 2}, b"x", 2**53, {"a": {(1,): 1}}, "\ud800", {1.5}]
)
def test_refusals(value: object) -> None:
    with pytest.raises(ConfigError):
        canonical_bytes(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1,"a":1}',
        b'{"a":1.0e0}',
        b'{"a":NaN}',
        b'{"a":"\\u00e9"}',
        b"\xff",
        b'{"a":9007199254740993}',
        b'{"a":-0}',
    ],
)
def test_decode_rejects_non_canonical(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_canonical(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trip(value: object) -> None:
    data = canonical_bytes(value)
    assert b"\n" not in data
    assert canonical_bytes(decode_canonical(data)) == data
