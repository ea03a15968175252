from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Vector(_message.Message):
    __slots__ = ("dtype", "length", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    length: int
    data: bytes
    def __init__(self, dtype: _Optional[str] = ..., length: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class NamedBytes(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ConfigEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: float
    def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class QuantizationSpec(_message.Message):
    __slots__ = ("clip", "bits", "max_weight", "max_silos", "modulus_bits", "metric_clip", "num_metrics")
    CLIP_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    MAX_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_SILOS_FIELD_NUMBER: _ClassVar[int]
    MODULUS_BITS_FIELD_NUMBER: _ClassVar[int]
    METRIC_CLIP_FIELD_NUMBER: _ClassVar[int]
    NUM_METRICS_FIELD_NUMBER: _ClassVar[int]
    clip: float
    bits: int
    max_weight: int
    max_silos: int
    modulus_bits: int
    metric_clip: float
    num_metrics: int
    def __init__(self, clip: _Optional[float] = ..., bits: _Optional[int] = ..., max_weight: _Optional[int] = ..., max_silos: _Optional[int] = ..., modulus_bits: _Optional[int] = ..., metric_clip: _Optional[float] = ..., num_metrics: _Optional[int] = ...) -> None: ...

class RoundParams(_message.Message):
    __slots__ = ("deployment_id", "round_id", "participants", "graph", "k", "threshold", "vector_length", "modulus_bits")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MODULUS_BITS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    participants: _containers.RepeatedScalarFieldContainer[str]
    graph: str
    k: int
    threshold: int
    vector_length: int
    modulus_bits: int
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., participants: _Optional[_Iterable[str]] = ..., graph: _Optional[str] = ..., k: _Optional[int] = ..., threshold: _Optional[int] = ..., vector_length: _Optional[int] = ..., modulus_bits: _Optional[int] = ...) -> None: ...

class EncryptedShare(_message.Message):
    __slots__ = ("sender", "receiver", "ciphertext", "seed_commitment", "key_commitment")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    SEED_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    KEY_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    sender: str
    receiver: str
    ciphertext: bytes
    seed_commitment: bytes
    key_commitment: bytes
    def __init__(self, sender: _Optional[str] = ..., receiver: _Optional[str] = ..., ciphertext: _Optional[bytes] = ..., seed_commitment: _Optional[bytes] = ..., key_commitment: _Optional[bytes] = ...) -> None: ...

class BeginRound(_message.Message):
    __slots__ = ("params",)
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    params: RoundParams
    def __init__(self, params: _Optional[_Union[RoundParams, _Mapping]] = ...) -> None: ...

class AdvertiseKeys(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "c_public", "s_public", "signature")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    C_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    S_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    c_public: bytes
    s_public: bytes
    signature: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., c_public: _Optional[bytes] = ..., s_public: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class KeyDirectory(_message.Message):
    __slots__ = ("deployment_id", "round_id", "advertisements")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    ADVERTISEMENTS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    advertisements: _containers.RepeatedCompositeFieldContainer[AdvertiseKeys]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., advertisements: _Optional[_Iterable[_Union[AdvertiseKeys, _Mapping]]] = ...) -> None: ...

class ShareKeys(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "shares", "signature")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    shares: _containers.RepeatedCompositeFieldContainer[EncryptedShare]
    signature: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., shares: _Optional[_Iterable[_Union[EncryptedShare, _Mapping]]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ShareDelivery(_message.Message):
    __slots__ = ("deployment_id", "round_id", "shares")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    shares: _containers.RepeatedCompositeFieldContainer[EncryptedShare]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., shares: _Optional[_Iterable[_Union[EncryptedShare, _Mapping]]] = ...) -> None: ...

class MaskedInput(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "vector", "rejected")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    vector: Vector
    rejected: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., rejected: _Optional[_Iterable[str]] = ...) -> None: ...

class ConsistencyRequest(_message.Message):
    __slots__ = ("deployment_id", "round_id", "survivors")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SURVIVORS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    survivors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., survivors: _Optional[_Iterable[str]] = ...) -> None: ...

class ConsistencySignature(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "signature")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    signature: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class UnmaskRequest(_message.Message):
    __slots__ = ("deployment_id", "round_id", "survivors", "dropped", "signatures")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SURVIVORS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    survivors: _containers.RepeatedScalarFieldContainer[str]
    dropped: _containers.RepeatedScalarFieldContainer[str]
    signatures: _containers.RepeatedCompositeFieldContainer[NamedBytes]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., survivors: _Optional[_Iterable[str]] = ..., dropped: _Optional[_Iterable[str]] = ..., signatures: _Optional[_Iterable[_Union[NamedBytes, _Mapping]]] = ...) -> None: ...

class UnmaskResponse(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "seed_shares", "key_shares")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SEED_SHARES_FIELD_NUMBER: _ClassVar[int]
    KEY_SHARES_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    seed_shares: _containers.RepeatedCompositeFieldContainer[NamedBytes]
    key_shares: _containers.RepeatedCompositeFieldContainer[NamedBytes]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., seed_shares: _Optional[_Iterable[_Union[NamedBytes, _Mapping]]] = ..., key_shares: _Optional[_Iterable[_Union[NamedBytes, _Mapping]]] = ...) -> None: ...

class AbortRound(_message.Message):
    __slots__ = ("deployment_id", "round_id", "reason")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    reason: str
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("deployment_id", "round_id", "weights", "aggregation", "quantization", "config")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    weights: Vector
    aggregation: str
    quantization: QuantizationSpec
    config: _containers.RepeatedCompositeFieldContainer[ConfigEntry]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., weights: _Optional[_Union[Vector, _Mapping]] = ..., aggregation: _Optional[str] = ..., quantization: _Optional[_Union[QuantizationSpec, _Mapping]] = ..., config: _Optional[_Iterable[_Union[ConfigEntry, _Mapping]]] = ...) -> None: ...

class TrainReady(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ...) -> None: ...

class Abstain(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "reason")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    reason: str
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PlaintextInput(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "vector")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    vector: Vector
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ...) -> None: ...

class PaillierInput(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "ciphertexts", "signature", "proof")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXTS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    ciphertexts: bytes
    signature: bytes
    proof: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., ciphertexts: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class DecryptRequest(_message.Message):
    __slots__ = ("deployment_id", "round_id", "contributions")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    contributions: _containers.RepeatedCompositeFieldContainer[PaillierInput]
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., contributions: _Optional[_Iterable[_Union[PaillierInput, _Mapping]]] = ...) -> None: ...

class PartialDecryptionShare(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "index", "values", "challenge", "response")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    index: int
    values: bytes
    challenge: bytes
    response: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., index: _Optional[int] = ..., values: _Optional[bytes] = ..., challenge: _Optional[bytes] = ..., response: _Optional[bytes] = ...) -> None: ...

class LayerSpec(_message.Message):
    __slots__ = ("name", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("deployment_id", "sender", "roster_sha256", "roster", "layout")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    ROSTER_SHA256_FIELD_NUMBER: _ClassVar[int]
    ROSTER_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    sender: str
    roster_sha256: str
    roster: _containers.RepeatedScalarFieldContainer[str]
    layout: _containers.RepeatedCompositeFieldContainer[LayerSpec]
    def __init__(self, deployment_id: _Optional[str] = ..., sender: _Optional[str] = ..., roster_sha256: _Optional[str] = ..., roster: _Optional[_Iterable[str]] = ..., layout: _Optional[_Iterable[_Union[LayerSpec, _Mapping]]] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ("deployment_id", "round_id", "checkpoint")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    checkpoint: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., checkpoint: _Optional[bytes] = ...) -> None: ...

class CheckpointCosign(_message.Message):
    __slots__ = ("deployment_id", "round_id", "sender", "signature", "silo_checkpoint")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SILO_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    round_id: int
    sender: str
    signature: bytes
    silo_checkpoint: bytes
    def __init__(self, deployment_id: _Optional[str] = ..., round_id: _Optional[int] = ..., sender: _Optional[str] = ..., signature: _Optional[bytes] = ..., silo_checkpoint: _Optional[bytes] = ...) -> None: ...

class Finish(_message.Message):
    __slots__ = ("deployment_id", "reason")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    reason: str
    def __init__(self, deployment_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ServerEnvelope(_message.Message):
    __slots__ = ("train_request", "checkpoint_request", "finish", "begin_round", "key_directory", "share_delivery", "consistency_request", "unmask_request", "abort_round", "decrypt_request")
    TRAIN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    BEGIN_ROUND_FIELD_NUMBER: _ClassVar[int]
    KEY_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    SHARE_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    UNMASK_REQUEST_FIELD_NUMBER: _ClassVar[int]
    ABORT_ROUND_FIELD_NUMBER: _ClassVar[int]
    DECRYPT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    train_request: TrainRequest
    checkpoint_request: CheckpointRequest
    finish: Finish
    begin_round: BeginRound
    key_directory: KeyDirectory
    share_delivery: ShareDelivery
    consistency_request: ConsistencyRequest
    unmask_request: UnmaskRequest
    abort_round: AbortRound
    decrypt_request: DecryptRequest
    def __init__(self, train_request: _Optional[_Union[TrainRequest, _Mapping]] = ..., checkpoint_request: _Optional[_Union[CheckpointRequest, _Mapping]] = ..., finish: _Optional[_Union[Finish, _Mapping]] = ..., begin_round: _Optional[_Union[BeginRound, _Mapping]] = ..., key_directory: _Optional[_Union[KeyDirectory, _Mapping]] = ..., share_delivery: _Optional[_Union[ShareDelivery, _Mapping]] = ..., consistency_request: _Optional[_Union[ConsistencyRequest, _Mapping]] = ..., unmask_request: _Optional[_Union[UnmaskRequest, _Mapping]] = ..., abort_round: _Optional[_Union[AbortRound, _Mapping]] = ..., decrypt_request: _Optional[_Union[DecryptRequest, _Mapping]] = ...) -> None: ...

class SiloEnvelope(_message.Message):
    __slots__ = ("train_ready", "abstain", "plaintext_input", "checkpoint_cosign", "advertise_keys", "share_keys", "masked_input", "consistency_signature", "unmask_response", "abort_round", "paillier_input", "partial_decryption_share", "hello")
    TRAIN_READY_FIELD_NUMBER: _ClassVar[int]
    ABSTAIN_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_INPUT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_COSIGN_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_KEYS_FIELD_NUMBER: _ClassVar[int]
    SHARE_KEYS_FIELD_NUMBER: _ClassVar[int]
    MASKED_INPUT_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    UNMASK_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ABORT_ROUND_FIELD_NUMBER: _ClassVar[int]
    PAILLIER_INPUT_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_DECRYPTION_SHARE_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    train_ready: TrainReady
    abstain: Abstain
    plaintext_input: PlaintextInput
    checkpoint_cosign: CheckpointCosign
    advertise_keys: AdvertiseKeys
    share_keys: ShareKeys
    masked_input: MaskedInput
    consistency_signature: ConsistencySignature
    unmask_response: UnmaskResponse
    abort_round: AbortRound
    paillier_input: PaillierInput
    partial_decryption_share: PartialDecryptionShare
    hello: Hello
    def __init__(self, train_ready: _Optional[_Union[TrainReady, _Mapping]] = ..., abstain: _Optional[_Union[Abstain, _Mapping]] = ..., plaintext_input: _Optional[_Union[PlaintextInput, _Mapping]] = ..., checkpoint_cosign: _Optional[_Union[CheckpointCosign, _Mapping]] = ..., advertise_keys: _Optional[_Union[AdvertiseKeys, _Mapping]] = ..., share_keys: _Optional[_Union[ShareKeys, _Mapping]] = ..., masked_input: _Optional[_Union[MaskedInput, _Mapping]] = ..., consistency_signature: _Optional[_Union[ConsistencySignature, _Mapping]] = ..., unmask_response: _Optional[_Union[UnmaskResponse, _Mapping]] = ..., abort_round: _Optional[_Union[AbortRound, _Mapping]] = ..., paillier_input: _Optional[_Union[PaillierInput, _Mapping]] = ..., partial_decryption_share: _Optional[_Union[PartialDecryptionShare, _Mapping]] = ..., hello: _Optional[_Union[Hello, _Mapping]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("message_id", "index", "total", "data")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    index: int
    total: int
    data: bytes
    def __init__(self, message_id: _Optional[int] = ..., index: _Optional[int] = ..., total: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
