"""The federated-training messages around each secure-aggregation round (sans-IO dataclasses).

A FedAvg round over a deployment has three phases; this module holds the messages of the first
and last, :mod:`fedseal.protocol.messages` those of the middle one:

1. **Train.** The server sends :class:`TrainRequest` (global weights, the aggregation mode and the
   quantization every silo must encode with). A silo trains, encodes
   ``[w*update, w, w*metrics]`` and answers :class:`TrainReady` (masking mode: the encoded
   vector stays on the silo until it is masked), :class:`PlaintextInput` (the insecure
   ``"none"`` mode, kept only to measure what SecAgg costs) or :class:`Abstain` (with a reason,
   e.g. its privacy budget would be exceeded; the server treats it like a dropout).
2. **Aggregate.** The five SecAgg stages among the silos that answered :class:`TrainReady`.
3. **Attest.** The server sends its signed audit checkpoint (:class:`CheckpointRequest`); each
   silo verifies it, keeps it and answers :class:`CheckpointCosign`. :class:`Finish` tells a silo
   the deployment's training is over.

Nothing here carries a silo's update in clear except :class:`PlaintextInput`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.protocol import messages as m
from fedseal.secagg.quantize import QuantizationSpec

__all__ = [
    "AGGREGATION_MODES",
    "Abstain",
    "CheckpointCosign",
    "CheckpointRequest",
    "Finish",
    "PlaintextInput",
    "ToServer",
    "ToSilo",
    "TrainReady",
    "TrainRequest",
]

#: ``"masking"``: SecAgg; ``"none"``: plaintext sum, insecure, for comparison only.
AGGREGATION_MODES = ("masking", "none")


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
class CheckpointRequest:
    """S -> C: the server's signed audit checkpoint, as its canonical JSON record bytes."""

    deployment_id: str
    round_id: int
    checkpoint: bytes


@dataclass(frozen=True)
class CheckpointCosign:
    """C -> S: the silo's Ed25519 co-signature over the checkpoint it was sent."""

    deployment_id: str
    round_id: int
    sender: str
    signature: bytes


@dataclass(frozen=True)
class Finish:
    """S -> C: training is over (or the server is shutting down); the silo may exit."""

    deployment_id: str
    reason: str


ToSilo = (
    TrainRequest
    | CheckpointRequest
    | Finish
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
    | CheckpointCosign
    | m.AdvertiseKeys
    | m.ShareKeys
    | m.MaskedInput
    | m.ConsistencySignature
    | m.UnmaskResponse
    | m.AbortRound
)
"""Every message a silo sends to the server."""
