"""Protocol dataclasses <-> protobuf bytes: the only module that imports protobuf (DESIGN §6).

Every dataclass of :mod:`fedseal.protocol.messages` and :mod:`fedseal.protocol.control` has a
protobuf message of the same name with fields of the same names (``proto/fedseal/v1``); one
envelope per direction wraps them in a ``oneof`` (``ServerEnvelope`` for :data:`ToSilo`,
``SiloEnvelope`` for :data:`ToServer`).

Theory of operation: conversion is driven by one table, :data:`_CODECS`, from a dataclass field
name to the codec of its value (a name means the same thing in every message). Fields not in
the table are scalars (``str``, ``bytes``, ``int``, ``float``) and are copied as they are. A
field checked in one message only is looked up first in :data:`_MESSAGE_CODECS`, by (dataclass,
field name): ``ShareKeys.signature``, which must be 64 bytes, and ``PaillierInput.proof``, which
must be 1 to ``MAX_PROOF_BYTES`` bytes (its exact size depends on the deployment key, which
serde does not know; the session checks it). Nested dataclasses
(``RoundParams``, ``EncryptedShare``, ``AdvertiseKeys``, ``QuantizationSpec``, the
``PaillierInput`` list of a ``DecryptRequest``) go through the same two functions,
:func:`_to_pb` and :func:`_from_pb`.

Decoding treats its input as hostile: whatever is wrong with it (unparsable bytes, no message in
the envelope, a missing sub-message, a vector whose dtype the field does not allow or whose byte
count is not ``length * itemsize``, a round id outside ``0..MAX_ROUND_ID``, an unknown
``GraphKind``, a ``QuantizationSpec`` its constructor refuses, a share commitment that is not 32
bytes, a ``ShareKeys`` signature that is not 64 bytes, a ``PaillierInput`` proof that is empty
or longer than ``MAX_PROOF_BYTES``, a ``rejected`` list with an invalid or
repeated silo name or more than ``MAX_NAMES`` of them) raises
:class:`~fedseal.errors.ProtocolViolation` and nothing else. Vectors travel as raw little-endian
bytes and are decoded into fresh, writable, native-order 1-D arrays; nothing is ever pickled.
Encoding a message that could not be decoded (wrong dtype, negative round id, a commitment of
the wrong length, ...) raises :class:`~fedseal.errors.ConfigError`: the local caller is to blame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, cast

import numpy as np
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.names import check_silo_name
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.control import ToServer, ToSilo
from fedseal.protocol.wire._pb.fedseal.v1 import fedseal_pb2 as pb
from fedseal.secagg.graph import GraphKind
from fedseal.secagg.quantize import QuantizationSpec

__all__ = [
    "MAX_NAMES",
    "MAX_PROOF_BYTES",
    "MAX_ROUND_ID",
    "decode_to_server",
    "decode_to_silo",
    "encode_to_server",
    "encode_to_silo",
]

#: Largest round id on the wire: the audit log's canonical JSON refuses integers beyond 2**53 - 1.
MAX_ROUND_ID = 2**53 - 1
#: Most silo names a checked name list (``MaskedInput.rejected``) may hold.
MAX_NAMES = 100_000
#: Most bytes a ``PaillierInput.proof`` may hold: ``PlaintextProof.to_bytes`` is
#: ``|N^2| + 2 |N|`` bytes, i.e. 4096 bytes for an 8192-bit key.
MAX_PROOF_BYTES = 4096
#: Bytes of a SHA-256 share commitment and of an Ed25519 signature.
_COMMITMENT_SIZE = 32
_SIGNATURE_SIZE = 64

_Enc = Callable[[Any, str, Any], None]  # (protobuf message, field name, dataclass value)
_Dec = Callable[[Any, str], Any]  # (protobuf message, field name) -> dataclass value

# Oneof field of each envelope -> dataclass. The proto field numbers fix the wire identity.
_TO_SILO: dict[str, type[Any]] = {
    "train_request": c.TrainRequest,
    "checkpoint_request": c.CheckpointRequest,
    "finish": c.Finish,
    "begin_round": m.BeginRound,
    "key_directory": m.KeyDirectory,
    "share_delivery": m.ShareDelivery,
    "consistency_request": m.ConsistencyRequest,
    "unmask_request": m.UnmaskRequest,
    "abort_round": m.AbortRound,
    "decrypt_request": c.DecryptRequest,
}
_TO_SERVER: dict[str, type[Any]] = {
    "train_ready": c.TrainReady,
    "abstain": c.Abstain,
    "plaintext_input": c.PlaintextInput,
    "checkpoint_cosign": c.CheckpointCosign,
    "advertise_keys": m.AdvertiseKeys,
    "share_keys": m.ShareKeys,
    "masked_input": m.MaskedInput,
    "consistency_signature": m.ConsistencySignature,
    "unmask_response": m.UnmaskResponse,
    "abort_round": m.AbortRound,
    "paillier_input": c.PaillierInput,
    "partial_decryption_share": c.PartialDecryptionShare,
}

# Wire dtypes, looked up by string: an untrusted string never reaches np.dtype().
_UINT: dict[str, np.dtype[Any]] = {"<u4": np.dtype("<u4"), "<u8": np.dtype("<u8")}
_FLOAT: dict[str, np.dtype[Any]] = {"<f8": np.dtype("<f8")}


def _check_round(value: int, error: type[Exception]) -> int:
    if not 0 <= value <= MAX_ROUND_ID:
        raise error(f"round_id must be in 0..{MAX_ROUND_ID}, got {value}")
    return value


def _required(msg: Any, name: str) -> Any:
    if not msg.HasField(name):
        raise ProtocolViolation(f"{type(msg).__name__}.{name} is missing")
    return getattr(msg, name)


def _vector_codec(allowed: dict[str, np.dtype[Any]]) -> tuple[_Enc, _Dec]:
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
        vector = _required(msg, name)
        wire = allowed.get(vector.dtype)
        if wire is None:
            raise ProtocolViolation(f"{name} dtype must be one of {sorted(allowed)}")
        data = vector.data
        if len(data) != vector.length * wire.itemsize:
            raise ProtocolViolation(f"{name} has {len(data)} bytes for {vector.length} items")
        return np.frombuffer(data, dtype=wire).astype(wire.newbyteorder("="), copy=True)

    return encode, decode


def _pairs_codec(first: str, second: str) -> tuple[_Enc, _Dec]:
    def encode(out: Any, name: str, value: Any) -> None:
        for a, b in value:
            getattr(out, name).add(**{first: a, second: b})

    def decode(msg: Any, name: str) -> Any:
        return tuple((getattr(e, first), getattr(e, second)) for e in getattr(msg, name))

    return encode, decode


def _nested_codec(cls: type[Any], repeated: bool) -> tuple[_Enc, _Dec]:
    def encode(out: Any, name: str, value: Any) -> None:
        if repeated:
            for item in value:
                _to_pb(item, getattr(out, name).add())
        else:
            getattr(out, name).SetInParent()  # present even if every field has its default
            _to_pb(value, getattr(out, name))

    def decode(msg: Any, name: str) -> Any:
        if repeated:
            return tuple(_from_pb(item, cls) for item in getattr(msg, name))
        return _from_pb(_required(msg, name), cls)

    return encode, decode


def _fixed_bytes_codec(size: int) -> tuple[_Enc, _Dec]:
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


def _bounded_bytes_codec(low: int, high: int) -> tuple[_Enc, _Dec]:
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


#: Dataclass field name -> codec; every other field is a scalar copied as it is.
_CODECS: dict[str, tuple[_Enc, _Dec]] = {
    "round_id": (_enc_round, _dec_round),
    "graph": (_enc_graph, _dec_graph),
    "participants": (_enc_strings, _dec_strings),
    "survivors": (_enc_strings, _dec_strings),
    "dropped": (_enc_strings, _dec_strings),
    "rejected": (_enc_silo_names, _dec_silo_names),  # MaskedInput
    "seed_commitment": _fixed_bytes_codec(_COMMITMENT_SIZE),  # EncryptedShare
    "key_commitment": _fixed_bytes_codec(_COMMITMENT_SIZE),  # EncryptedShare
    "signatures": _pairs_codec("name", "data"),
    "seed_shares": _pairs_codec("name", "data"),
    "key_shares": _pairs_codec("name", "data"),
    "config": _pairs_codec("key", "value"),
    "vector": _vector_codec(_UINT),  # MaskedInput, PlaintextInput
    "weights": _vector_codec(_FLOAT),  # TrainRequest
    "params": _nested_codec(m.RoundParams, repeated=False),
    "quantization": _nested_codec(QuantizationSpec, repeated=False),
    "shares": _nested_codec(m.EncryptedShare, repeated=True),
    "advertisements": _nested_codec(m.AdvertiseKeys, repeated=True),
    "contributions": _nested_codec(c.PaillierInput, repeated=True),
}


#: (dataclass, field name) -> codec, for a field checked in one message only; before _CODECS.
_MESSAGE_CODECS: dict[tuple[type[Any], str], tuple[_Enc, _Dec]] = {
    (m.ShareKeys, "signature"): _fixed_bytes_codec(_SIGNATURE_SIZE),
    (c.PaillierInput, "proof"): _bounded_bytes_codec(1, MAX_PROOF_BYTES),
}

_SCALAR: tuple[_Enc, _Dec] = (setattr, getattr)


def _codec(cls: type[Any], name: str) -> tuple[_Enc, _Dec]:
    return _MESSAGE_CODECS.get((cls, name)) or _CODECS.get(name, _SCALAR)


def _to_pb(obj: Any, out: Any) -> None:
    for field in fields(obj):
        encode, _ = _codec(type(obj), field.name)
        encode(out, field.name, getattr(obj, field.name))


def _from_pb(msg: Any, cls: type[Any]) -> Any:
    values = {f.name: _codec(cls, f.name)[1](msg, f.name) for f in fields(cls)}
    try:
        return cls(**values)
    except ConfigError as exc:  # e.g. a QuantizationSpec that would let sums wrap around
        raise ProtocolViolation(f"invalid {cls.__name__}: {exc}") from None


def _encode(message: object, envelope: Any, table: dict[str, type[Any]], what: str) -> bytes:
    name = next((name for name, cls in table.items() if type(message) is cls), None)
    if name is None:
        raise ConfigError(f"{type(message).__name__} is not a message {what}")
    try:
        _to_pb(message, getattr(envelope, name))
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # protobuf refused a value (type, range, encoding)
        raise ConfigError(f"cannot encode {type(message).__name__}: {exc}") from exc
    return cast(bytes, envelope.SerializeToString())


def _decode(data: bytes, envelope: Any, table: dict[str, type[Any]]) -> Any:
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        raise ProtocolViolation("the message is not a valid protobuf envelope") from None
    name = envelope.WhichOneof("message")
    if name is None:
        raise ProtocolViolation("the envelope carries no message")
    return _from_pb(getattr(envelope, name), table[name])


def encode_to_silo(message: ToSilo) -> bytes:
    """Encode a server-to-silo message as a serialized ``ServerEnvelope``.

    Raises
    ------
    ConfigError
        If ``message`` is not a :data:`ToSilo` dataclass or holds a value the wire cannot carry
        (a vector of another dtype or shape, a round id outside ``0..MAX_ROUND_ID``, ...).
    """
    return _encode(message, pb.ServerEnvelope(), _TO_SILO, "to a silo")


def decode_to_silo(data: bytes) -> ToSilo:
    """Decode untrusted bytes from the server into a :data:`ToSilo` dataclass.

    Raises
    ------
    ProtocolViolation
        For any malformed input; no other exception escapes.
    """
    return cast(ToSilo, _decode(data, pb.ServerEnvelope(), _TO_SILO))


def encode_to_server(message: ToServer) -> bytes:
    """Encode a silo-to-server message as a serialized ``SiloEnvelope``.

    Raises
    ------
    ConfigError
        If ``message`` is not a :data:`ToServer` dataclass or holds a value the wire cannot
        carry (a vector of another dtype or shape, a round id outside ``0..MAX_ROUND_ID``, ...).
    """
    return _encode(message, pb.SiloEnvelope(), _TO_SERVER, "to the server")


def decode_to_server(data: bytes) -> ToServer:
    """Decode untrusted bytes from a silo into a :data:`ToServer` dataclass.

    Raises
    ------
    ProtocolViolation
        For any malformed input; no other exception escapes.
    """
    return cast(ToServer, _decode(data, pb.SiloEnvelope(), _TO_SERVER))
