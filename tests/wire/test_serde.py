"""serde: every dataclass round-trips, and hostile bytes raise only ProtocolViolation."""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.names import RESERVED_NAMES
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.hello import Hello, LayerSpec
from fedseal.protocol.wire import serde
from fedseal.protocol.wire._pb.fedseal.v1 import fedseal_pb2 as pb
from fedseal.secagg.graph import GraphKind
from fedseal.secagg.quantize import QuantizationSpec

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=12)
blob = st.binary(max_size=40)
round_ids = st.integers(0, serde.MAX_ROUND_ID)
names = st.lists(text, max_size=4).map(tuple)
pairs = st.lists(st.tuples(text, blob), max_size=3).map(tuple)
uint_vectors = hnp.arrays(st.sampled_from([np.uint32, np.uint64]), st.integers(0, 40))
weights = hnp.arrays(np.float64, st.integers(0, 40), elements=st.floats(allow_nan=False))
commitment = st.binary(min_size=32, max_size=32)
signature = st.binary(min_size=64, max_size=64)
proofs = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.binary(min_size=serde.MAX_PROOF_BYTES, max_size=serde.MAX_PROOF_BYTES),
)
silo_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,62}", fullmatch=True).filter(
    lambda name: name not in RESERVED_NAMES
)
rejected = st.lists(silo_names, max_size=4, unique=True).map(tuple)


@st.composite
def specs(draw: st.DrawFn) -> QuantizationSpec:
    kwargs = {
        "clip": draw(st.floats(1e-6, 1e6)),
        "bits": draw(st.integers(1, 32)),
        "max_weight": draw(st.integers(1, 10_000)),
        "max_silos": draw(st.integers(1, 1_000)),
        "metric_clip": draw(st.floats(1e-6, 1e6)),
        "num_metrics": draw(st.integers(0, 8)),
    }
    try:
        return QuantizationSpec(modulus_bits=32, **kwargs)
    except ConfigError:  # the sum could wrap around 2^32; 2^64 always suffices here
        return QuantizationSpec(modulus_bits=64, **kwargs)


params = st.builds(
    m.RoundParams,
    text,
    round_ids,
    names,
    st.sampled_from(GraphKind),
    *[st.integers(0, 999)] * 3,
    st.sampled_from([32, 64]),
)
adverts = st.builds(m.AdvertiseKeys, text, round_ids, text, blob, blob, blob)
shares = st.lists(
    st.builds(m.EncryptedShare, text, text, blob, commitment, commitment), max_size=3
).map(tuple)
directory = st.lists(adverts, max_size=3).map(tuple)
paillier_inputs = st.builds(c.PaillierInput, text, round_ids, text, blob, proofs, blob)

STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    c.TrainRequest: st.builds(
        c.TrainRequest,
        text,
        round_ids,
        weights,
        st.sampled_from(c.AGGREGATION_MODES),
        specs(),
        st.lists(st.tuples(text, st.floats(allow_nan=False)), max_size=3).map(tuple),
    ),
    c.CheckpointRequest: st.builds(c.CheckpointRequest, text, round_ids, blob),
    c.Finish: st.builds(c.Finish, text, text),
    c.TrainReady: st.builds(c.TrainReady, text, round_ids, text),
    c.Abstain: st.builds(c.Abstain, text, round_ids, text, text),
    c.PlaintextInput: st.builds(c.PlaintextInput, text, round_ids, text, uint_vectors),
    c.CheckpointCosign: st.builds(c.CheckpointCosign, text, round_ids, text, blob),
    c.PaillierInput: paillier_inputs,
    c.DecryptRequest: st.builds(
        c.DecryptRequest, text, round_ids, st.lists(paillier_inputs, max_size=3).map(tuple)
    ),
    c.PartialDecryptionShare: st.builds(
        c.PartialDecryptionShare, text, round_ids, text, st.integers(0, 2**32 - 1), blob, blob, blob
    ),
    m.BeginRound: st.builds(m.BeginRound, params),
    m.AdvertiseKeys: adverts,
    m.KeyDirectory: st.builds(m.KeyDirectory, text, round_ids, directory),
    m.ShareKeys: st.builds(m.ShareKeys, text, round_ids, text, shares, signature),
    m.ShareDelivery: st.builds(m.ShareDelivery, text, round_ids, shares),
    m.MaskedInput: st.builds(m.MaskedInput, text, round_ids, text, uint_vectors, rejected),
    m.ConsistencyRequest: st.builds(m.ConsistencyRequest, text, round_ids, names),
    m.ConsistencySignature: st.builds(m.ConsistencySignature, text, round_ids, text, blob),
    m.UnmaskRequest: st.builds(m.UnmaskRequest, text, round_ids, names, names, pairs),
    m.UnmaskResponse: st.builds(m.UnmaskResponse, text, round_ids, text, pairs, pairs),
    m.AbortRound: st.builds(m.AbortRound, text, round_ids, text),
    Hello: st.builds(
        Hello,
        text,
        text,
        st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        rejected,
        st.lists(
            st.builds(LayerSpec, text, st.lists(st.integers(0, 2**10), max_size=4).map(tuple)),
            max_size=4,
        ).map(tuple),
    ),
}

TO_SILO = typing.get_args(c.ToSilo)
TO_SERVER = typing.get_args(c.ToServer)
CODECS = [(cls, serde.encode_to_silo, serde.decode_to_silo) for cls in TO_SILO] + [
    (cls, serde.encode_to_server, serde.decode_to_server) for cls in TO_SERVER
]


def test_strategies_cover_both_unions() -> None:
    assert set(STRATEGIES) == set(TO_SILO) | set(TO_SERVER)


@pytest.mark.parametrize(
    ("cls", "encode", "decode"), CODECS, ids=lambda x: getattr(x, "__name__", "")
)
@FAST
@given(data=st.data())
def test_round_trip(cls: type[Any], encode: Any, decode: Any, data: st.DataObject) -> None:
    message = data.draw(STRATEGIES[cls])
    decoded = decode(encode(message))
    assert type(decoded) is cls
    assert decoded == message
    for field in {"vector", "weights"} & {f.name for f in dataclasses.fields(cls)}:
        array, original = getattr(decoded, field), getattr(message, field)
        assert array.ndim == 1 and array.flags.writeable and array.flags.owndata
        assert array.dtype.isnative and array.dtype == original.dtype


NESTED = [m.RoundParams, m.EncryptedShare, QuantizationSpec]


@pytest.mark.parametrize("cls", [*STRATEGIES, *NESTED], ids=lambda k: k.__name__)
def test_proto_fields_match_dataclass_fields(cls: type[Any]) -> None:
    descriptor = pb.DESCRIPTOR.message_types_by_name[cls.__name__]
    assert set(descriptor.fields_by_name) == {f.name for f in dataclasses.fields(cls)}


def _decoders() -> list[Any]:
    return [serde.decode_to_silo, serde.decode_to_server]


@pytest.mark.parametrize("decode", _decoders())
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_raise_only_protocol_violation(decode: Any, data: bytes) -> None:
    with contextlib.suppress(ProtocolViolation):
        decode(data)


@pytest.mark.parametrize(
    ("cls", "encode", "decode"), CODECS, ids=lambda x: getattr(x, "__name__", "")
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_mutated_messages_raise_only_protocol_violation(
    cls: type[Any], encode: Any, decode: Any, data: st.DataObject
) -> None:
    raw = bytearray(encode(data.draw(STRATEGIES[cls])))
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["set", "cut", "insert"]))
        at = data.draw(st.integers(0, len(raw)))
        if op == "set" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        decoded = decode(bytes(raw))
    except ProtocolViolation:
        return
    assert isinstance(decoded, TO_SILO if decode is serde.decode_to_silo else TO_SERVER)


# --- Each malformed input, built with the generated classes -------------------------------------


def _masked(**vector: Any) -> bytes:
    v = pb.Vector(**vector)
    env = pb.SiloEnvelope(masked_input=pb.MaskedInput(deployment_id="d", round_id=1, vector=v))
    return bytes(env.SerializeToString())


def _spec(**changes: Any) -> pb.QuantizationSpec:
    fields = {"clip": 1.0, "bits": 8, "max_weight": 10, "max_silos": 10, "modulus_bits": 32}
    return pb.QuantizationSpec(**{**fields, "metric_clip": 1.0, **changes})


def _train(quantization: Any = None, **vector: Any) -> bytes:
    request = pb.TrainRequest(deployment_id="d", round_id=1, aggregation="masking")
    if quantization is not None:
        request.quantization.CopyFrom(quantization)
    if vector:
        request.weights.CopyFrom(pb.Vector(**vector))
    return bytes(pb.ServerEnvelope(train_request=request).SerializeToString())


def _begin(graph: str = "full", round_id: int = 1) -> bytes:
    p = pb.RoundParams(deployment_id="d", round_id=round_id, graph=graph, modulus_bits=32)
    return bytes(pb.ServerEnvelope(begin_round=pb.BeginRound(params=p)).SerializeToString())


def test_well_formed_handmade_messages_decode() -> None:
    assert serde.decode_to_server(
        _masked(dtype="<u8", length=1, data=bytes(8))
    ).vector.tolist() == [0]
    weights = {"dtype": "<f8", "length": 1, "data": np.float64(2.5).tobytes()}
    assert serde.decode_to_silo(_train(_spec(), **weights)).weights.tolist() == [2.5]
    assert serde.decode_to_silo(_begin()).params.graph is GraphKind.FULL


@pytest.mark.parametrize("data", [b"\xff", b"\x0a\x05ab", b"\x52\x03\x0a\x01\xff", b"\x08" * 3])
def test_unparsable_or_invalid_utf8(data: bytes) -> None:
    for decode in _decoders():
        with pytest.raises(ProtocolViolation):
            decode(data)


@pytest.mark.parametrize("data", [b"", b"\xf8\x06\x01"])  # nothing; only an unknown field 111
def test_empty_oneof(data: bytes) -> None:
    for decode in _decoders():
        with pytest.raises(ProtocolViolation, match="no message"):
            decode(data)


@pytest.mark.parametrize("dtype", ["<f8", "<i4", "<i8", ">u4", "=u4", "|u1", "O", "", "<u4 "])
def test_masked_input_dtype_not_allowed(dtype: str) -> None:
    with pytest.raises(ProtocolViolation, match="dtype"):
        serde.decode_to_server(_masked(dtype=dtype, length=1, data=bytes(8)))


def test_plaintext_input_and_weights_dtypes_not_allowed() -> None:
    vector = pb.Vector(dtype="<f8", length=1, data=bytes(8))
    p = pb.PlaintextInput(deployment_id="d", round_id=1, vector=vector)
    with pytest.raises(ProtocolViolation, match="dtype"):
        serde.decode_to_server(pb.SiloEnvelope(plaintext_input=p).SerializeToString())
    for dtype in ("<u4", "<u8", "<f4", ">f8"):
        with pytest.raises(ProtocolViolation, match="dtype"):
            serde.decode_to_silo(_train(_spec(), dtype=dtype, length=1, data=bytes(8)))


@pytest.mark.parametrize(
    ("length", "size"), [(1, 0), (1, 3), (1, 5), (2, 4), (0, 4), (2**64 - 1, 4)]
)
def test_vector_byte_count_must_be_length_times_itemsize(length: int, size: int) -> None:
    with pytest.raises(ProtocolViolation, match="bytes"):
        serde.decode_to_server(_masked(dtype="<u4", length=length, data=bytes(size)))


@pytest.mark.parametrize("round_id", [-1, -(2**63), serde.MAX_ROUND_ID + 1, 2**63 - 1])
def test_round_id_out_of_range(round_id: int) -> None:
    env = pb.SiloEnvelope(train_ready=pb.TrainReady(deployment_id="d", round_id=round_id))
    with pytest.raises(ProtocolViolation, match="round_id"):
        serde.decode_to_server(env.SerializeToString())
    with pytest.raises(ProtocolViolation, match="round_id"):  # nested, inside RoundParams
        serde.decode_to_silo(_begin(round_id=round_id))


def test_round_id_out_of_range_inside_a_decrypt_request() -> None:
    bad = pb.PaillierInput(deployment_id="d", round_id=-1, sender="a", ciphertexts=b"x", proof=b"p")
    env = pb.ServerEnvelope(
        decrypt_request=pb.DecryptRequest(deployment_id="d", round_id=1, contributions=[bad])
    )
    with pytest.raises(ProtocolViolation, match="round_id"):
        serde.decode_to_silo(env.SerializeToString())


@pytest.mark.parametrize("graph", ["", "ring", "FULL", "full "])
def test_unknown_graph_kind(graph: str) -> None:
    with pytest.raises(ProtocolViolation, match="graph"):
        serde.decode_to_silo(_begin(graph))


@pytest.mark.parametrize(
    "changes",
    [
        {"clip": 0.0},
        {"clip": float("nan")},
        {"metric_clip": float("inf")},
        {"bits": 0},
        {"bits": 33},
        {"modulus_bits": 16},
        {"max_weight": 0},
        {"bits": 32, "max_silos": 2},
    ],
)
def test_quantization_spec_refused_by_its_constructor(changes: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation, match="QuantizationSpec"):
        serde.decode_to_silo(_train(_spec(**changes), dtype="<f8", length=0, data=b""))


def test_missing_sub_messages() -> None:
    with pytest.raises(ProtocolViolation, match="quantization"):
        serde.decode_to_silo(_train(None, dtype="<f8", length=0, data=b""))
    with pytest.raises(ProtocolViolation, match="weights"):
        serde.decode_to_silo(_train(_spec()))
    with pytest.raises(ProtocolViolation, match="params"):
        serde.decode_to_silo(pb.ServerEnvelope(begin_round=pb.BeginRound()).SerializeToString())
    env = pb.SiloEnvelope(masked_input=pb.MaskedInput(deployment_id="d", round_id=1))
    with pytest.raises(ProtocolViolation, match="vector"):
        serde.decode_to_server(env.SerializeToString())


def _pb_share(**changes: Any) -> pb.EncryptedShare:
    fields = {"sender": "a", "receiver": "b", "ciphertext": b"c"}
    return pb.EncryptedShare(
        **{**fields, "seed_commitment": bytes(32), "key_commitment": bytes(32), **changes}
    )


def _share_keys(share: pb.EncryptedShare | None = None, signature: bytes = bytes(64)) -> bytes:
    keys = pb.ShareKeys(
        deployment_id="d",
        round_id=1,
        sender="a",
        shares=[share or _pb_share()],
        signature=signature,
    )
    return bytes(pb.SiloEnvelope(share_keys=keys).SerializeToString())


def _share_delivery(share: pb.EncryptedShare) -> bytes:
    delivery = pb.ShareDelivery(deployment_id="d", round_id=1, shares=[share])
    return bytes(pb.ServerEnvelope(share_delivery=delivery).SerializeToString())


def _masked_rejecting(names: list[str]) -> bytes:
    v = pb.Vector(dtype="<u4", length=0, data=b"")
    masked = pb.MaskedInput(deployment_id="d", round_id=1, sender="a", vector=v, rejected=names)
    return bytes(pb.SiloEnvelope(masked_input=masked).SerializeToString())


def test_well_formed_commitments_signature_and_rejected_decode() -> None:
    keys = serde.decode_to_server(_share_keys(_pb_share(seed_commitment=b"s" * 32)))
    assert isinstance(keys, m.ShareKeys) and keys.signature == bytes(64)
    assert keys.shares == (m.EncryptedShare("a", "b", b"c", b"s" * 32, bytes(32)),)
    names = ["b", "a", "0.x_y-z", "c" * 63]
    masked = serde.decode_to_server(_masked_rejecting(names))
    assert isinstance(masked, m.MaskedInput) and masked.rejected == tuple(names)
    empty = serde.decode_to_server(_masked(dtype="<u4", length=0, data=b""))
    assert isinstance(empty, m.MaskedInput) and empty.rejected == ()


@pytest.mark.parametrize("field", ["seed_commitment", "key_commitment"])
@pytest.mark.parametrize("size", [0, 1, 31, 33, 64])
def test_commitment_must_be_32_bytes(field: str, size: int) -> None:
    share = _pb_share(**{field: bytes(size)})
    with pytest.raises(ProtocolViolation, match=f"{field} must be 32 bytes"):
        serde.decode_to_server(_share_keys(share))
    with pytest.raises(ProtocolViolation, match=f"{field} must be 32 bytes"):
        serde.decode_to_silo(_share_delivery(share))


@pytest.mark.parametrize("size", [0, 1, 32, 63, 65])
def test_share_keys_signature_must_be_64_bytes(size: int) -> None:
    with pytest.raises(ProtocolViolation, match="signature must be 64 bytes"):
        serde.decode_to_server(_share_keys(signature=bytes(size)))


def test_other_signatures_keep_their_length_unchecked() -> None:
    signed = pb.ConsistencySignature(deployment_id="d", round_id=1, sender="a", signature=b"x")
    env = pb.SiloEnvelope(consistency_signature=signed)
    assert serde.decode_to_server(env.SerializeToString()).signature == b"x"  # type: ignore[union-attr]


def _pb_paillier_input(proof: bytes) -> pb.PaillierInput:
    return pb.PaillierInput(
        deployment_id="d", round_id=1, sender="a", ciphertexts=b"c", proof=proof, signature=b"s"
    )


@pytest.mark.parametrize("size", [1, 2, serde.MAX_PROOF_BYTES])
def test_well_formed_paillier_proof_decodes(size: int) -> None:
    env = pb.SiloEnvelope(paillier_input=_pb_paillier_input(bytes(size)))
    decoded = serde.decode_to_server(env.SerializeToString())
    assert decoded == c.PaillierInput("d", 1, "a", b"c", bytes(size), b"s")


@pytest.mark.parametrize("size", [0, serde.MAX_PROOF_BYTES + 1, 2**20])
def test_paillier_proof_empty_or_oversized_is_refused(size: int) -> None:
    bad = _pb_paillier_input(bytes(size))
    with pytest.raises(ProtocolViolation, match="proof must be 1 to"):
        serde.decode_to_server(pb.SiloEnvelope(paillier_input=bad).SerializeToString())
    request = pb.DecryptRequest(deployment_id="d", round_id=1, contributions=[bad])
    with pytest.raises(ProtocolViolation, match="proof must be 1 to"):  # nested, forwarded
        serde.decode_to_silo(pb.ServerEnvelope(decrypt_request=request).SerializeToString())


@pytest.mark.parametrize("names", [["a", "a"], ["a", "b", "a"], ["s1", "s2", "s3", "s2"]])
def test_rejected_must_not_repeat_a_name(names: list[str]) -> None:
    with pytest.raises(ProtocolViolation, match="rejected names a silo twice"):
        serde.decode_to_server(_masked_rejecting(names))


@pytest.mark.parametrize(
    "name", ["", "A", "-a", ".a", "a b", "a/b", "é", "a" * 64, "server", "fedseal-server"]
)
def test_rejected_must_hold_valid_silo_names(name: str) -> None:
    with pytest.raises(ProtocolViolation, match="rejected holds an invalid silo name"):
        serde.decode_to_server(_masked_rejecting(["a", name]))


def test_rejected_is_bounded() -> None:
    names = [f"s{i}" for i in range(serde.MAX_NAMES + 1)]
    with pytest.raises(ProtocolViolation, match="more than"):
        serde.decode_to_server(_masked_rejecting(names))
    masked = serde.decode_to_server(_masked_rejecting(names[:-1]))
    assert len(masked.rejected) == serde.MAX_NAMES  # type: ignore[union-attr]


# --- Encoding misuse is the caller's fault: ConfigError -----------------------------------------


def _masked_input(vector: Any, round_id: int = 1, rejected: tuple[str, ...] = ()) -> m.MaskedInput:
    return m.MaskedInput("d", round_id, "s", vector, rejected)


def _share(seed: bytes = bytes(32), key: bytes = bytes(32)) -> m.EncryptedShare:
    return m.EncryptedShare("a", "b", b"c", seed, key)


@pytest.mark.parametrize(
    "message",
    [
        _masked_input(np.zeros(3, np.int64)),
        _masked_input(np.zeros(3, np.float64)),
        _masked_input(np.zeros((2, 2), np.uint32)),
        _masked_input(np.uint32(7)),
        _masked_input(np.zeros(3, np.uint32), round_id=-1),
        _masked_input(np.zeros(3, np.uint32), round_id=serde.MAX_ROUND_ID + 1),
        c.PlaintextInput("d", 1, "s", np.zeros(3, np.float32)),
        c.TrainReady("d", 1, 7),  # type: ignore[arg-type]
        c.TrainReady("d", 1, "\ud800"),
        _masked_input(np.zeros(3, np.uint32), rejected=("a", "a")),
        _masked_input(np.zeros(3, np.uint32), rejected=("Bad",)),
        _masked_input(np.zeros(3, np.uint32), rejected=("server",)),
        _masked_input(np.zeros(3, np.uint32), rejected=(7,)),  # type: ignore[arg-type]
        m.ShareKeys("d", 1, "a", (_share(seed=bytes(31)),), bytes(64)),
        m.ShareKeys("d", 1, "a", (_share(key=bytes(33)),), bytes(64)),
        m.ShareKeys("d", 1, "a", (_share(),), bytes(63)),
        m.ShareKeys("d", 1, "a", (_share(),), None),  # type: ignore[arg-type]
        c.PaillierInput("d", 1, "a", b"c", b"", b"s"),
        c.PaillierInput("d", 1, "a", b"c", bytes(serde.MAX_PROOF_BYTES + 1), b"s"),
        m.BeginRound(params="x"),
        "not a message",
    ],  # type: ignore[arg-type]
)
def test_encode_refuses_what_the_wire_cannot_carry(message: Any) -> None:
    with pytest.raises(ConfigError):
        serde.encode_to_server(message)


def test_encode_refuses_a_decrypt_request_forwarding_a_bad_proof() -> None:
    bad = c.PaillierInput("d", 1, "a", b"c", b"", b"s")
    with pytest.raises(ConfigError, match="proof must be 1 to"):
        serde.encode_to_silo(c.DecryptRequest("d", 1, (bad,)))


def test_encode_refuses_the_other_direction() -> None:
    with pytest.raises(ConfigError, match="not a message to a silo"):
        serde.encode_to_silo(c.TrainReady("d", 1, "s"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a message to the server"):
        serde.encode_to_server(c.Finish("d", "done"))  # type: ignore[arg-type]


def test_big_endian_and_strided_vectors_are_sent_as_their_values() -> None:
    values = np.arange(10, dtype=np.uint32)
    for vector in (values.astype(">u4"), np.arange(20, dtype=np.uint32)[::2] // 2):
        decoded = serde.decode_to_server(serde.encode_to_server(_masked_input(vector)))
        assert isinstance(decoded, m.MaskedInput)
        assert (
            decoded.vector.dtype == np.dtype("=u4") and decoded.vector.tolist() == values.tolist()
        )


def test_decoded_vector_does_not_alias_the_input_buffer() -> None:
    raw = bytearray(serde.encode_to_server(_masked_input(np.arange(4, dtype=np.uint64))))
    decoded = serde.decode_to_server(bytes(raw))
    assert isinstance(decoded, m.MaskedInput)
    decoded.vector[0] = 99  # writable, and writing does not touch anyone else's bytes
    assert serde.decode_to_server(bytes(raw)) == _masked_input(np.arange(4, dtype=np.uint64))
