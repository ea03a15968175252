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
  where JSON has them, else ``\\u00xx`` in lower-case hex); everything else is literal UTF-8.

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

__all__ = ["MAX_SAFE_INTEGER", "canonical_bytes", "decode_canonical"]

#: Largest integer magnitude allowed (I-JSON, RFC 7493 §2.2).
MAX_SAFE_INTEGER = 2**53 - 1


def _check(value: Any, path: str) -> None:
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
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{path}: object keys must be str, got {type(key).__name__}")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
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
        For NaN/Infinity, non-``str`` keys, integers outside the I-JSON range, lone surrogates
        or any other type (bytes, numpy arrays, ...).
    """
    _check(value, "$")
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError("strings must be valid Unicode (no lone surrogates)") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_LONG_NUMBER = re.compile(rb"\d{16}")


def loads(data: bytes | str) -> Any:
    """``json.loads`` for untrusted input: hostile nesting is a ``ValueError``, not a crash.

    Raises
    ------
    ValueError
        If ``data`` is not JSON (``json.JSONDecodeError`` is a ``ValueError``) or is nested
        deeper than the interpreter's recursion limit.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply to be an audit record") from None


def decode_canonical(data: bytes) -> Any:
    """Parse ``data`` and check that it is exactly the canonical encoding of what it holds.

    Duplicate keys need no separate check: re-encoding keeps one member per key, so a line
    with a duplicate never equals its re-encoding.

    Raises
    ------
    ValueError
        If ``data`` is not UTF-8, not JSON, nested deeper than the interpreter's recursion
        limit, has NaN/Infinity or an integer outside the I-JSON range, or is JSON but not in
        canonical form (duplicate keys, key order, whitespace,
        escapes or number spelling).
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
        if _LONG_NUMBER.search(data):  # only then can an integer be out of range
            try:
                _check(value, "$")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        again = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:  # hostile nesting: a refusal like any other, never a crash
        raise ValueError("nested too deeply to be an audit record") from None
    if again.encode("utf-8") != data:
        raise ValueError("not in canonical form (duplicate keys, key order, whitespace, escapes)")
    return value
