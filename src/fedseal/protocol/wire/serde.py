"""Protocol dataclasses <-> protobuf bytes: the only module that imports protobuf (DESIGN §6).

Every dataclass of :mod:`fedseal.protocol.messages` and :mod:`fedseal.protocol.control` has a
protobuf message of the same name with fields of the same names (``proto/fedseal/v1``); one
envelope per direction wraps them in a ``oneof`` (``ServerEnvelope`` for :data:`ToSilo`,
``SiloEnvelope`` for :data:`ToServer`).

Theory of operation: conversion is driven by one table, :data:`_CODECS`, from a dataclass field
name to the codec of its value (a name means the same thing in every message); the codecs are
in :mod:`fedseal.protocol.wire.field_codecs`. Fields not in the table are scalars (``str``,
``bytes``, ``int``, ``float``) and are copied as they are. A field checked in one message only
is looked up first in :data:`_MESSAGE_CODECS`, by (dataclass, field name):
``ShareKeys.signature``, which must be 64 bytes, and ``PaillierInput.proof``, which must be 1 to
``MAX_PROOF_BYTES`` bytes (its exact size depends on the deployment key, which serde does not
know; the session checks it). Nested dataclasses (``RoundParams``, ``EncryptedShare``,
``AdvertiseKeys``, ``QuantizationSpec``, the ``PaillierInput`` list of a ``DecryptRequest``) go
through the same two functions, :func:`_to_pb` and :func:`_from_pb`.

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

from dataclasses import fields
from typing import Any, cast

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.control import ToServer, ToSilo
from fedseal.protocol.hello import Hello, LayerSpec
from fedseal.protocol.wire._pb.fedseal.v1 import fedseal_pb2 as pb
from fedseal.protocol.wire.field_codecs import (
    FLOAT_DTYPES,
    GRAPH,
    MAX_NAMES,
    MAX_ROUND_ID,
    ROUND_ID,
    SCALAR,
    SILO_NAMES,
    STRINGS,
    UINT_DTYPES,
    Codec,
    bounded_bytes_codec,
    fixed_bytes_codec,
    pairs_codec,
    required,
    vector_codec,
)
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

#: Most bytes a ``PaillierInput.proof`` may hold: ``PlaintextProof.to_bytes`` is
#: ``|N^2| + 2 |N|`` bytes, i.e. 4096 bytes for an 8192-bit key.
MAX_PROOF_BYTES = 4096
#: Bytes of a SHA-256 share commitment and of an Ed25519 signature.
_COMMITMENT_SIZE = 32
_SIGNATURE_SIZE = 64

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
    "hello": Hello,
}


def _nested_codec(cls: type[Any], repeated: bool) -> Codec:
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
        return _from_pb(required(msg, name), cls)

    return encode, decode


#: Largest silo checkpoint record accepted (a record is about 400 bytes).
MAX_CHECKPOINT_BYTES = 4096

#: Dataclass field name -> codec; every other field is a scalar copied as it is.
_CODECS: dict[str, Codec] = {
    "round_id": ROUND_ID,
    "graph": GRAPH,
    "participants": STRINGS,
    "survivors": STRINGS,
    "dropped": STRINGS,
    "rejected": SILO_NAMES,  # MaskedInput
    "seed_commitment": fixed_bytes_codec(_COMMITMENT_SIZE),  # EncryptedShare
    "key_commitment": fixed_bytes_codec(_COMMITMENT_SIZE),  # EncryptedShare
    "signatures": pairs_codec("name", "data"),
    "seed_shares": pairs_codec("name", "data"),
    "key_shares": pairs_codec("name", "data"),
    "config": pairs_codec("key", "value"),
    "vector": vector_codec(UINT_DTYPES),  # MaskedInput, PlaintextInput
    "weights": vector_codec(FLOAT_DTYPES),  # TrainRequest
    "params": _nested_codec(m.RoundParams, repeated=False),
    "quantization": _nested_codec(QuantizationSpec, repeated=False),
    "shares": _nested_codec(m.EncryptedShare, repeated=True),
    "advertisements": _nested_codec(m.AdvertiseKeys, repeated=True),
    "contributions": _nested_codec(c.PaillierInput, repeated=True),
    "roster": SILO_NAMES,  # Hello
    "layout": _nested_codec(LayerSpec, repeated=True),  # Hello
    "shape": STRINGS,  # LayerSpec: a repeated uint64 field, copied as a tuple of ints
}


#: (dataclass, field name) -> codec, for a field checked in one message only; before _CODECS.
_MESSAGE_CODECS: dict[tuple[type[Any], str], Codec] = {
    (m.ShareKeys, "signature"): fixed_bytes_codec(_SIGNATURE_SIZE),
    (c.PaillierInput, "proof"): bounded_bytes_codec(1, MAX_PROOF_BYTES),
    (c.CheckpointCosign, "silo_checkpoint"): bounded_bytes_codec(0, MAX_CHECKPOINT_BYTES),
}


def _codec(cls: type[Any], name: str) -> Codec:
    return _MESSAGE_CODECS.get((cls, name)) or _CODECS.get(name, SCALAR)


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
