"""The messages of one secure-aggregation round, named after the stages of Bonawitz et al. 2017.

Plain frozen dataclasses: the sans-IO sessions consume and produce them, and
``protocol.wire.serde`` maps them to and from protobuf. Every message carries the deployment id
and the round id; a session refuses anything addressed to another round or deployment.

Stage / direction / message:

====================  ==========  ==============================================
0 AdvertiseKeys       S -> C      :class:`BeginRound`
                      C -> S      :class:`AdvertiseKeys`
1 ShareKeys           S -> C      :class:`KeyDirectory`
                      C -> S      :class:`ShareKeys`
2 MaskedInput         S -> C      :class:`ShareDelivery`
                      C -> S      :class:`MaskedInput`
3 ConsistencyCheck    S -> C      :class:`ConsistencyRequest`
                      C -> S      :class:`ConsistencySignature`
4 Unmask              S -> C      :class:`UnmaskRequest`
                      C -> S      :class:`UnmaskResponse`
any                   either      :class:`AbortRound`
====================  ==========  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.secagg.graph import GraphKind

__all__ = [
    "AbortRound",
    "AdvertiseKeys",
    "BeginRound",
    "ConsistencyRequest",
    "ConsistencySignature",
    "EncryptedShare",
    "KeyDirectory",
    "MaskedInput",
    "Message",
    "RoundParams",
    "ShareDelivery",
    "ShareKeys",
    "UnmaskRequest",
    "UnmaskResponse",
]


@dataclass(frozen=True)
class RoundParams:
    """Everything a silo needs to take part in a round; chosen by the server, checked by silos."""

    deployment_id: str
    round_id: int
    participants: tuple[str, ...]  # sorted; a silo's Shamir index is its position + 1
    graph: GraphKind
    k: int
    threshold: int
    vector_length: int
    modulus_bits: int

    def index_of(self, silo: str) -> int:
        """The silo's index 1..n (its Shamir x-coordinate)."""
        return self.participants.index(silo) + 1


@dataclass(frozen=True)
class BeginRound:
    """S -> C: a round starts with these parameters."""

    params: RoundParams


@dataclass(frozen=True)
class AdvertiseKeys:
    """C -> S (and forwarded S -> C): a silo's two round public keys, signed by its identity."""

    deployment_id: str
    round_id: int
    sender: str
    c_public: bytes
    s_public: bytes
    signature: bytes


@dataclass(frozen=True)
class KeyDirectory:
    """S -> C: the signed advertisements of every silo the server heard from (U1)."""

    deployment_id: str
    round_id: int
    advertisements: tuple[AdvertiseKeys, ...]


@dataclass(frozen=True)
class EncryptedShare:
    """An AES-GCM-sealed pair of Shamir shares (of ``b`` and ``s_sk``), sender to receiver.

    ``seed_commitment`` and ``key_commitment`` are the dealer's SHA-256 commitments to the two
    shares inside (``transcript.share_commitment``): the holder checks them when it decrypts,
    the server checks every share revealed at unmasking against them.
    """

    sender: str
    receiver: str
    ciphertext: bytes
    seed_commitment: bytes
    key_commitment: bytes


@dataclass(frozen=True)
class ShareKeys:
    """C -> S: a silo's encrypted shares, one per neighbour, signed by the dealer.

    ``signature`` covers the round digest and every share's receiver, ciphertext digest and
    commitments (``transcript.share_keys_payload``), so the dealer cannot later disown them.
    """

    deployment_id: str
    round_id: int
    sender: str
    shares: tuple[EncryptedShare, ...]
    signature: bytes


@dataclass(frozen=True)
class ShareDelivery:
    """S -> C: the encrypted shares addressed to this silo (its senders form its view of U2)."""

    deployment_id: str
    round_id: int
    shares: tuple[EncryptedShare, ...]


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """C -> S: the masked, encoded contribution ``y``.

    ``rejected`` names the neighbours whose share ciphertext failed authentication or did not
    match its dealer's commitment: the sender holds no share for them (it still masks with
    them, so the masks cancel) and the server counts the complaint against the dealer.
    """

    deployment_id: str
    round_id: int
    sender: str
    vector: npt.NDArray[Any]
    rejected: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskedInput):
            return NotImplemented
        return (self.deployment_id, self.round_id, self.sender, self.rejected) == (
            other.deployment_id,
            other.round_id,
            other.sender,
            other.rejected,
        ) and bool(np.array_equal(self.vector, other.vector))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ConsistencyRequest:
    """S -> C: the set U3 of silos whose masked input the server received."""

    deployment_id: str
    round_id: int
    survivors: tuple[str, ...]


@dataclass(frozen=True)
class ConsistencySignature:
    """C -> S: the silo's signature over (round, U3, digest of U1)."""

    deployment_id: str
    round_id: int
    sender: str
    signature: bytes


@dataclass(frozen=True)
class UnmaskRequest:
    """S -> C: which silos survived, which dropped, and the signatures vouching for U3."""

    deployment_id: str
    round_id: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]
    signatures: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class UnmaskResponse:
    """C -> S: shares of ``b`` for surviving neighbours, of ``s_sk`` for dropped ones; not both."""

    deployment_id: str
    round_id: int
    sender: str
    seed_shares: tuple[tuple[str, bytes], ...]
    key_shares: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class AbortRound:
    """Either direction: the sender abandons the round, with a reason safe to log."""

    deployment_id: str
    round_id: int
    reason: str


Message = (
    BeginRound
    | AdvertiseKeys
    | KeyDirectory
    | ShareKeys
    | ShareDelivery
    | MaskedInput
    | ConsistencyRequest
    | ConsistencySignature
    | UnmaskRequest
    | UnmaskResponse
    | AbortRound
)
