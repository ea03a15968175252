"""Codecs of single field values between protocol dataclasses and protobuf messages.

DESIGN §6. A codec is a pair ``(encode, decode)``: ``encode(out, name, value)`` writes a
dataclass field's value into field ``name`` of the protobuf message ``out``, ``decode(msg,
name)`` reads it back. :mod:`fedseal.protocol.wire.serde` picks one per field by name; this
module holds the codecs themselves and the bounds they enforce.

Decoding treats its input as hostile and raises :class:`~fedseal.errors.ProtocolViolation`
and nothing else: a missing sub-message, a vector whose dtype the field does not allow or whose
byte count is not ``length * itemsize``, a round id outside ``0..MAX_ROUND_ID``, an unknown
``GraphKind``, bytes of the wrong length, a name list with an invalid or repeated silo name or
more than ``MAX_NAMES`` of them. Vectors travel as raw little-endian bytes and are decoded into
fresh, writable, native-order 1-D arrays; nothing is ever pickled. Encoding a value that could
not be decoded raises :class:`~fedseal.errors.ConfigError`: the local caller is to blame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.names import check_silo_name
from fedseal.secagg.graph import GraphKind

__all__ = [
    "FLOAT_DTYPES",
    "GRAPH",
    "MAX_NAMES",
    "MAX_ROUND_ID",
    "ROUND_ID",
    "SCALAR",
    "SILO_NAMES",
    "STRINGS",
    "UINT_DTYPES",
    "Codec",
    "Decoder",
    "Encoder",
    "bounded_bytes_codec",
    "fixed_bytes_codec",
    "pairs_codec",
    "required",
    "vector_codec",
]

#: Largest round id on the wire: the audit log's canonical JSON refuses integers beyond 2**53 - 1.
MAX_ROUND_ID = 2**53 - 1
#: Most silo names a checked name list (``MaskedInput.rejected``) may hold.
MAX_NAMES = 100_000

Encoder = Callable[[Any, str, Any], None]  # (protobuf message, field name, dataclass value)
Decoder = Callable[[Any, str], Any]  # (protobuf message, field name) -> dataclass value
Codec = tuple[Encoder, Decoder]

# Wire dtypes, looked up by string: an untrusted string never reaches np.dtype().
UINT_DTYPES: dict[str, np.dtype[Any]] = {"<u4": np.dtype("<u4"), "<u8": np.dtype("<u8")}
FLOAT_DTYPES: dict[str, np.dtype[Any]] = {"<f8": np.dtype("<f8")}


def _check_round(value: int, error: type[Exception]) -> int:
    if not 0 <= value <= MAX_ROUND_ID:
        raise error(f"round_id must be in 0..{MAX_ROUND_ID}, got {value}")
    return value


def required(msg: Any, name: str) -> Any:
    """The sub-message ``name`` of ``msg``.

    Raises
    ------
    ProtocolViolation
        If ``msg`` does not carry it.
    """
    if not msg.HasField(name):
        raise ProtocolViolation(f"{type(msg).__name__}.{name} is missing")
    return getattr(msg, name)


def vector_codec(allowed: dict[str, np.dtype[Any]]) -> Codec:
    """A 1-D array as ``(dtype, length, data)``, of one of the little-endian dtypes ``allowed``."""

    def encode(out: Any, name: str, value: Any) -> None:
        array = np.asarray(value)
        wire = array.dtype.newbyteorder("<")
        if array.ndim != 1 or wire.str not in allowed:
            raise ConfigError(
                f"{name} must be a 1-D array of {sorted(allowed)}, got {array.ndim}-D {wire.str}"
            )
        vector = getattr(out, name)
        vector.dtype, vector.length = wire.str, array.shape[0]
        vector.data = array.astype(wire, copy=False).tobytes()

    def decode(msg: Any, name: str) -> Any:
        vector = required(msg, name)
        wire = allowed.get(vector.dtype)
        if wire is None:
            raise ProtocolViolation(f"{name} dtype must be one of {sorted(allowed)}")
        data = vector.data
        if len(data) != vector.length * wire.itemsize:
            raise ProtocolViolation(f"{name} has {len(data)} bytes for {vector.length} items")
        return np.frombuffer(data, dtype=wire).astype(wire.newbyteorder("="), copy=True)

    return encode, decode


def pairs_codec(first: str, second: str) -> Codec:
    """A tuple of pairs as a repeated message with fields ``first`` and ``second``."""

    def encode(out: Any, name: str, value: Any) -> None:
        for a, b in value:
            getattr(out, name).add(**{first: a, second: b})

    def decode(msg: Any, name: str) -> Any:
        return tuple((getattr(e, first), getattr(e, second)) for e in getattr(msg, name))

    return encode, decode


def fixed_bytes_codec(size: int) -> Codec:
    """Bytes of exactly ``size`` bytes."""

    def encode(out: Any, name: str, value: Any) -> None:
        if len(value) != size:
            raise ConfigError(f"{name} must be {size} bytes, got {len(value)}")
        setattr(out, name, value)

    def decode(msg: Any, name: str) -> Any:
        value = getattr(msg, name)
        if len(value) != size:
            raise ProtocolViolation(f"{name} must be {size} bytes, got {len(value)}")
        return value

    return encode, decode


def bounded_bytes_codec(low: int, high: int) -> Codec:
    """Bytes of ``low`` to ``high`` bytes."""

    def encode(out: Any, name: str, value: Any) -> None:
        if not low <= len(value) <= high:
            raise ConfigError(f"{name} must be {low} to {high} bytes, got {len(value)}")
        setattr(out, name, value)

    def decode(msg: Any, name: str) -> Any:
        value = getattr(msg, name)
        if not low <= len(value) <= high:
            raise ProtocolViolation(f"{name} must be {low} to {high} bytes, got {len(value)}")
        return value

    return encode, decode


def _check_silo_names(value: tuple[Any, ...], name: str, error: type[Exception]) -> None:
    # The messages name neither the offending entry nor its length: it may be hostile.
    if len(value) > MAX_NAMES:
        raise error(f"{name} holds {len(value)} silo names, more than {MAX_NAMES}")
    for entry in value:
        try:
            check_silo_name(entry)
        except ConfigError:
            raise error(f"{name} holds an invalid silo name") from None
    if len(set(value)) != len(value):
        raise error(f"{name} names a silo twice")


def _enc_silo_names(out: Any, name: str, value: Any) -> None:
    names = tuple(value)
    _check_silo_names(names, name, ConfigError)
    getattr(out, name).extend(names)


def _dec_silo_names(msg: Any, name: str) -> Any:
    names = tuple(getattr(msg, name))
    _check_silo_names(names, name, ProtocolViolation)
    return names


def _enc_round(out: Any, name: str, value: Any) -> None:
    setattr(out, name, _check_round(value, ConfigError))


def _dec_round(msg: Any, name: str) -> Any:
    return _check_round(getattr(msg, name), ProtocolViolation)


def _enc_strings(out: Any, name: str, value: Any) -> None:
    getattr(out, name).extend(value)


def _dec_strings(msg: Any, name: str) -> Any:
    return tuple(getattr(msg, name))


def _enc_graph(out: Any, name: str, value: Any) -> None:
    setattr(out, name, GraphKind(value).value)


def _dec_graph(msg: Any, name: str) -> Any:
    try:
        return GraphKind(getattr(msg, name))
    except ValueError:
        raise ProtocolViolation("unknown graph kind") from None


#: A checked list of distinct, valid silo names, at most ``MAX_NAMES`` of them.
SILO_NAMES: Codec = (_enc_silo_names, _dec_silo_names)
#: A round id in ``0..MAX_ROUND_ID``.
ROUND_ID: Codec = (_enc_round, _dec_round)
#: A tuple of strings as a repeated string field (unchecked).
STRINGS: Codec = (_enc_strings, _dec_strings)
#: A :class:`~fedseal.secagg.graph.GraphKind`; an unknown value is refused.
GRAPH: Codec = (_enc_graph, _dec_graph)
#: A scalar (``str``, ``bytes``, ``int``, ``float``) copied as it is.
SCALAR: Codec = (setattr, getattr)
