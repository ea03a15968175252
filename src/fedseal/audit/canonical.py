"""Canonical JSON bytes for audit entries: one value, one byte string.

The hash chain, the Merkle leaves and therefore every signature cover these exact bytes, so two
encoders must never disagree about them. The rules follow the spirit of RFC 8785 (JSON
Canonicalization Scheme): object members sorted by key, no insignificant whitespace, UTF-8, no
NaN or Infinity. Where we differ from RFC 8785, on purpose and documented in
``docs/audit-format.md`` §2:

* keys are sorted by Unicode code point (Python ``str`` order), not by UTF-16 code unit; the two
  orders differ only for characters outside the Basic Multilingual Plane;
* non-integral numbers use Python's shortest round-trip ``repr`` (``1e-07``, ``1e+16``), not the
  ECMAScript number serialisation (``1e-7``, ``10000000000000000``);
* integers must lie in the I-JSON safe range ``[-(2**53 - 1), 2**53 - 1]``;
* strings escape only ``"``, ``\\`` and control characters below U+0020 (``\\n``-style short forms
  where JSON has them, else ``\\u00xx`` in lower-case hex); everything else is literal UTF-8;
* a value nests at most :data:`MAX_DEPTH` arrays/objects deep, and a decoded line is at most
  :data:`MAX_LINE_BYTES` bytes: fixed numbers, so that two verifiers agree on hostile input
  (the interpreter's recursion limit is not a format rule).

A verifier never needs to re-encode to check the hash chain (hashes cover the stored bytes), but
fedseal's verifier also checks that each stored line *is* canonical, which rejects duplicate
keys and other parser-dependent ambiguities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fedseal.errors import ConfigError

__all__ = [
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "MAX_SAFE_INTEGER",
    "canonical_bytes",
    "decode_canonical",
    "loads",
]

#: Largest integer magnitude allowed (I-JSON, RFC 7493 §2.2).
MAX_SAFE_INTEGER = 2**53 - 1
#: Deepest nesting of arrays and objects (a scalar is depth 0, ``{}`` depth 1, an entry with a
#: ``details`` object depth 2). Far below the interpreter's recursion limit, so deeper input
#: is refused by this rule, never by a ``RecursionError``.
MAX_DEPTH = 32
#: Longest canonical line :func:`decode_canonical` accepts (bytes, without the LF).
MAX_LINE_BYTES = 1 << 20
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} arrays/objects"
#: The one canonical encoder (made once: ``json.dumps`` with options builds one per call).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _check(value: Any, path: str, depth: int = 0) -> None:
    """Reject values JSON cannot carry unambiguously, naming where they are."""
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ConfigError(f"{path}: integer {value} is outside +-(2**53 - 1)")
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{path}: NaN and Infinity are not JSON")
        return
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        raise ConfigError(f"{path}: {_TOO_DEEP}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{path}: object keys must be str, got {type(key).__name__}")
            _check(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    raise ConfigError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON (sorted keys, no whitespace, UTF-8).

    Parameters
    ----------
    value
        ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list``/``tuple`` or a mapping
        with ``str`` keys, nested arbitrarily.

    Returns
    -------
    bytes
        The canonical encoding; contains no LF byte, so it fits on one JSON Lines line.

    Raises
    ------
    ConfigError
        For NaN/Infinity, non-``str`` keys, integers outside the I-JSON range, lone surrogates,
        nesting deeper than :data:`MAX_DEPTH` or any other type (bytes, numpy arrays, ...).
    """
    _check(value, "$")
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError("strings must be valid Unicode (no lone surrogates)") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


_LONG_NUMBER = re.compile(rb"\d{16}")


def _too_deep(value: Any) -> bool:
    """True if ``value`` nests more than :data:`MAX_DEPTH` arrays/objects (iterative walk)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _parse(data: bytes) -> Any:
    """Strict UTF-8 JSON (RFC 8259: no NaN/Infinity) nested at most :data:`MAX_DEPTH` deep."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except RecursionError:  # hostile nesting: a refusal like any other, never a crash
        raise ValueError(_TOO_DEEP) from None
    # Only a text with more than MAX_DEPTH brackets can nest that deep: skip the walk otherwise.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _too_deep(value):
        raise ValueError(_TOO_DEEP)
    return value


def loads(data: bytes | str) -> Any:
    """Parse untrusted JSON: hostile nesting is a ``ValueError``, never a crash.

    Accepts exactly the UTF-8 JSON texts of RFC 8259 (any whitespace, any value; no BOM, no
    ``NaN``/``Infinity``) nested at most :data:`MAX_DEPTH` deep: what ``docs/audit-format.md``
    calls "valid JSON" (the torn-line rule, witness files).

    Raises
    ------
    ValueError
        If ``data`` is not UTF-8, not JSON, or nested deeper than :data:`MAX_DEPTH`.
    """
    return _parse(data.encode("utf-8") if isinstance(data, str) else bytes(data))


def decode_canonical(data: bytes) -> Any:
    """Parse ``data`` and check that it is exactly the canonical encoding of what it holds.

    Duplicate keys need no separate check: re-encoding keeps one member per key, so a line
    with a duplicate never equals its re-encoding.

    Raises
    ------
    ValueError
        If ``data`` is longer than :data:`MAX_LINE_BYTES`, not UTF-8, not JSON, nested deeper
        than :data:`MAX_DEPTH`, has NaN/Infinity or an integer outside the I-JSON range, or is
        JSON but not in canonical form (duplicate keys, key order, whitespace, escapes or
        number spelling).
    """
    if len(data) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    value = _parse(data)
    if _LONG_NUMBER.search(data):  # only then can an integer be out of range
        try:
            _check(value, "$")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    if _ENCODER.encode(value).encode("utf-8") != data:
        raise ValueError("not in canonical form (duplicate keys, key order, whitespace, escapes)")
    return value
