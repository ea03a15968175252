"""The federated-training messages around each secure-aggregation round (sans-IO dataclasses).

A FedAvg round over a deployment has three phases; this module holds the messages of the first
and last, :mod:`fedseal.protocol.messages` those of the middle one:

1. **Train.** The server sends :class:`TrainRequest` (global weights, the aggregation mode and the
   quantization every silo must encode with). A silo trains, encodes
   ``[w*update, w, v, v*metrics]`` and answers :class:`TrainReady` (masking mode: the encoded
   vector stays on the silo until it is masked), :class:`PaillierInput` (Paillier mode: the
   packed vector encrypted under the deployment's threshold key and signed by the silo),
   :class:`PlaintextInput` (the insecure ``"none"`` mode, kept only to measure what SecAgg
   costs) or :class:`Abstain` (with a reason, e.g. its privacy budget would be exceeded; the
   server treats it like a dropout).
2. **Aggregate.** Masking: the five SecAgg stages among the silos that answered
   :class:`TrainReady`. Paillier: the server multiplies the ciphertexts it received and sends
   every contributor one :class:`DecryptRequest` carrying all the signed contributions; each
   silo checks them, recomputes the aggregate itself and answers its
   :class:`PartialDecryptionShare` (Damgård–Jurik 2001 §4, with a proof of correctness).
3. **Attest.** The server sends its signed audit checkpoint (:class:`CheckpointRequest`); each
   silo verifies it, keeps it and answers :class:`CheckpointCosign`. :class:`Finish` tells a silo
   the deployment's training is over.

Nothing here carries a silo's update in clear except :class:`PlaintextInput`. See
``docs/paillier.md`` for the Paillier messages and the checks a silo makes before decrypting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.protocol import messages as m
from fedseal.protocol.hello import Hello
from fedseal.secagg.identity import signing_payload
from fedseal.secagg.quantize import QuantizationSpec

__all__ = [
    "AGGREGATION_MODES",
    "MODEL_MISMATCH",
    "PAILLIER_INPUT_PURPOSE",
    "Abstain",
    "CheckpointCosign",
    "CheckpointRequest",
    "DecryptRequest",
    "Finish",
    "PaillierInput",
    "PartialDecryptionShare",
    "PlaintextInput",
    "ToServer",
    "ToSilo",
    "TrainReady",
    "TrainRequest",
    "paillier_input_payload",
    "round_of",
]

#: ``"masking"``: SecAgg; ``"paillier"``: packed threshold Paillier; ``"none"``: plaintext sum,
#: insecure, for comparison only.
AGGREGATION_MODES = ("masking", "paillier", "none")

#: How a silo's refusal starts when the server's model does not fit its app (wrong size): the
#: server stops at once, naming it, when every participant says so (no round ids burnt).
MODEL_MISMATCH = "model mismatch"


def round_of(message: object) -> int | None:
    """The round a protocol message belongs to (``BeginRound`` carries it in its parameters).

    None for a message without a round (``Finish``) or a non-integer round field.
    """
    params = getattr(message, "params", None)
    round_id = getattr(message, "round_id", getattr(params, "round_id", None))
    return round_id if isinstance(round_id, int) else None


#: Purpose label of a silo's signature over its Paillier input (``identity.signing_payload``).
PAILLIER_INPUT_PURPOSE = "fedseal/paillier-input"


def _arrays_equal(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    return a.dtype == b.dtype and bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class TrainRequest:
    """S -> C: train from these global weights for round ``round_id``."""

    deployment_id: str
    round_id: int
    weights: npt.NDArray[np.float64]
    aggregation: str
    quantization: QuantizationSpec
    config: tuple[tuple[str, float], ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrainRequest):
            return NotImplemented
        return (
            self.deployment_id,
            self.round_id,
            self.aggregation,
            self.quantization,
            self.config,
        ) == (
            other.deployment_id,
            other.round_id,
            other.aggregation,
            other.quantization,
            other.config,
        ) and _arrays_equal(self.weights, other.weights)

    __hash__ = None  # type: ignore[assignment]

    def digest(self) -> bytes:
        """SHA-256 of everything the silo was asked to do: bound into what it signs.

        Covers the deployment, the round, the aggregation mode, every field of the
        quantization spec, the run config and the weights (float64, little-endian, with
        their shape). Silos shown different requests sign different round digests.
        """
        spec = [
            f"{f.name}={getattr(self.quantization, f.name)!r}" for f in fields(self.quantization)
        ]
        config = [f"{key}={value!r}" for key, value in self.config]
        w = np.ascontiguousarray(self.weights, dtype="<f8")
        payload = signing_payload(
            "train-request", self.deployment_id, self.round_id, self.aggregation,
            len(spec), *spec, len(config), *config, len(w.shape), *w.shape, w.tobytes(),
        )  # fmt: skip
        return hashlib.sha256(payload).digest()


@dataclass(frozen=True)
class TrainReady:
    """C -> S: trained and encoded; ready to take part in the SecAgg round."""

    deployment_id: str
    round_id: int
    sender: str


@dataclass(frozen=True)
class Abstain:
    """C -> S: the silo does not take part in this round; ``reason`` is safe to log."""

    deployment_id: str
    round_id: int
    sender: str
    reason: str


@dataclass(frozen=True, eq=False)
class PlaintextInput:
    """C -> S: the encoded contribution in clear. INSECURE: only for ``aggregation = "none"``."""

    deployment_id: str
    round_id: int
    sender: str
    vector: npt.NDArray[Any]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlaintextInput):
            return NotImplemented
        return (self.deployment_id, self.round_id, self.sender) == (
            other.deployment_id,
            other.round_id,
            other.sender,
        ) and _arrays_equal(self.vector, other.vector)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class PaillierInput:
    """C -> S: the encoded contribution, packed and encrypted under the threshold key.

    ``ciphertexts`` is ``EncryptedVector.to_bytes`` (fixed-width ciphertexts); ``proof`` is
    ``PlaintextProof.to_bytes``: the sender's proof that it knows every plaintext, bound to the
    deployment, round, sender and key (:mod:`fedseal.secagg.paillier.plaintext_proof`), so a
    silo cannot submit a value derived from others' ciphertexts; ``signature`` is the sender's
    Ed25519 signature over :meth:`signed_payload`, so that the server can forward the
    contribution to the other silos but cannot alter, drop-and-replace or replay it.
    """

    deployment_id: str
    round_id: int
    sender: str
    ciphertexts: bytes
    proof: bytes
    signature: bytes

    def signed_payload(self) -> bytes:
        """What ``signature`` signs: deployment, round, sender, SHA-256 of ciphertexts and proof."""
        return paillier_input_payload(
            self.deployment_id, self.round_id, self.sender, self.ciphertexts, self.proof
        )


def paillier_input_payload(
    deployment_id: str, round_id: int, sender: str, ciphertexts: bytes, proof: bytes
) -> bytes:
    """``signing_payload("fedseal/paillier-input", deployment, round, sender, sha256(ct),
    sha256(proof))``."""
    digest = hashlib.sha256(ciphertexts).digest()
    proof_digest = hashlib.sha256(proof).digest()
    return signing_payload(
        PAILLIER_INPUT_PURPOSE, deployment_id, round_id, sender, digest, proof_digest
    )


@dataclass(frozen=True)
class DecryptRequest:
    """S -> C: decrypt the sum of these contributions (every one the server received).

    A silo answers at most once per round, and only after checking every signature, that the
    senders are distinct silos of the deployment, that there are enough of them, and that its
    own contribution (if it sent one) is among them unchanged.
    """

    deployment_id: str
    round_id: int
    contributions: tuple[PaillierInput, ...]


@dataclass(frozen=True)
class PartialDecryptionShare:
    """C -> S: the silo's partial decryption of the aggregate, with its proof.

    ``values`` are the fixed-width partial decryptions (one per ciphertext), ``index`` the
    silo's party index in the threshold key, ``challenge`` and ``response`` the Fiat–Shamir
    proof (``response`` as a big-endian integer).
    """

    deployment_id: str
    round_id: int
    sender: str
    index: int
    values: bytes
    challenge: bytes
    response: bytes


@dataclass(frozen=True)
class CheckpointRequest:
    """S -> C: the server's signed audit checkpoint, as its canonical JSON record bytes."""

    deployment_id: str
    round_id: int
    checkpoint: bytes


@dataclass(frozen=True)
class CheckpointCosign:
    """C -> S: the silo's Ed25519 co-signature over the checkpoint it was sent.

    ``silo_checkpoint`` is the silo's own signed audit checkpoint (canonical record bytes), taken
    at the same moment: the server keeps it as a witness of the silo's log, so that a silo log
    truncated or emptied later no longer verifies against the deployment's witness material.
    """

    deployment_id: str
    round_id: int
    sender: str
    signature: bytes
    silo_checkpoint: bytes = b""


@dataclass(frozen=True)
class Finish:
    """S -> C: training is over (or the server is shutting down); the silo may exit."""

    deployment_id: str
    reason: str


ToSilo = (
    TrainRequest
    | CheckpointRequest
    | Finish
    | DecryptRequest
    | m.BeginRound
    | m.KeyDirectory
    | m.ShareDelivery
    | m.ConsistencyRequest
    | m.UnmaskRequest
    | m.AbortRound
)
"""Every message the server sends to a silo."""

ToServer = (
    TrainReady
    | Abstain
    | PlaintextInput
    | PaillierInput
    | PartialDecryptionShare
    | CheckpointCosign
    | m.AdvertiseKeys
    | m.ShareKeys
    | m.MaskedInput
    | m.ConsistencySignature
    | m.UnmaskResponse
    | m.AbortRound
    | Hello
)
"""Every message a silo sends to the server (``Hello`` only first, on each connection)."""
