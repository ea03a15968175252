"""The exact bytes that are signed, hashed or used as associated data in a round.

All go through :func:`~fedseal.secagg.identity.signing_payload` (domain-separated,
length-prefixed) and bind the deployment id and the round id.

What each silo signs binds the **round digest** (:func:`round_digest`): the digest of the
``TrainRequest`` it was sent (model weights, quantization, run config) and of the round's
parameters (participants, graph kind, ``k``, ``t``, vector length, modulus). A server that
shows two silos different models or parameters (model inconsistency, Pasquini et al., CCS
2022) gets signatures over different digests, which the other silos refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from fedseal.protocol.messages import AdvertiseKeys, EncryptedShare, RoundParams
from fedseal.secagg.identity import encode_field, signing_payload
from fedseal.secagg.keys import RoundContext

__all__ = [
    "COMMITMENT_BYTES",
    "advertise_payload",
    "consistency_payload",
    "key_directory_digest",
    "round_digest",
    "share_ad",
    "share_commitment",
    "share_keys_payload",
]

COMMITMENT_BYTES = 32


def round_digest(params: RoundParams, train_digest: bytes) -> bytes:
    """SHA-256 of the round's parameters and of the TrainRequest digest the silo was sent.

    It also seeds the sparse graph's layout, which is therefore fixed before any key exists.
    """
    fields: list[bytes | str | int] = [
        params.graph.value,
        params.k,
        params.threshold,
        params.vector_length,
        params.modulus_bits,
        train_digest,
        len(params.participants),
        *params.participants,
    ]
    return hashlib.sha256(
        signing_payload("round", params.deployment_id, params.round_id, *fields)
    ).digest()


def advertise_payload(
    context: RoundContext, digest: bytes, sender: str, c_public: bytes, s_public: bytes
) -> bytes:
    """What a silo signs when it advertises its round keys (Bonawitz et al. §4 round 0)."""
    return signing_payload("advertise-keys", *context.fields(), digest, sender, c_public, s_public)


def key_directory_digest(context: RoundContext, advertisements: Iterable[AdvertiseKeys]) -> bytes:
    """SHA-256 of the advertised keys, sorted by silo: bound into the U3 signatures."""
    fields: list[bytes | str | int] = []
    for ad in sorted(advertisements, key=lambda a: a.sender):
        fields += [ad.sender, ad.c_public, ad.s_public]
    return hashlib.sha256(signing_payload("key-directory", *context.fields(), *fields)).digest()


def consistency_payload(
    context: RoundContext, digest: bytes, survivors: Iterable[str], directory: bytes
) -> bytes:
    """What a silo signs in the consistency check: the round digest, U3 and the U1 digest."""
    return signing_payload("consistency", *context.fields(), digest, directory, *sorted(survivors))


def share_ad(context: RoundContext, sender: str, receiver: str) -> bytes:
    """Associated data of an encrypted share from ``sender`` to ``receiver``."""
    return signing_payload("share", *context.fields(), sender, receiver)


# Silo names repeat in every commitment and ShareKeys entry: encode each once.
_name = lru_cache(maxsize=4096)(encode_field)


@lru_cache(maxsize=64)
def _commitment_prefix(deployment_id: str, round_id: int) -> Any:
    # The constant head of every commitment payload of a round, hashed once: the server checks
    # tens of thousands of shares per round and the per-share cost must stay near one SHA-256.
    return hashlib.sha256(signing_payload("share-commitment", deployment_id, round_id))


def share_commitment(
    context: RoundContext, kind: str, dealer: str, holder: str, share: bytes
) -> bytes:
    """The dealer's commitment to one share (``kind`` "b": self-mask seed, "s": mask key).

    ``SHA-256(signing_payload("share-commitment", deployment, round, kind, dealer, holder,
    share))``. A Shamir share of a secret shared with threshold >= 2 is a uniformly random
    field element, so its hash hides it; binding the dealer, the holder and the round stops a
    share from being passed off for another owner or holder.
    """
    if kind not in ("b", "s"):
        raise ValueError(f"kind must be 'b' or 's', got {kind!r}")
    h = _commitment_prefix(*context.fields()).copy()
    h.update(_name(kind) + _name(dealer) + _name(holder) + encode_field(share))
    digest: bytes = h.digest()
    return digest


def share_keys_payload(
    context: RoundContext, digest: bytes, dealer: str, shares: Iterable[EncryptedShare]
) -> bytes:
    """What a dealer signs over its ShareKeys: each receiver, ciphertext digest, commitments.

    The entries (sorted by receiver; the receiver length-prefixed, the rest fixed-width) are
    hashed into one digest, so the signed message stays small whatever the degree.
    """
    entries = hashlib.sha256()
    count = 0
    for share in sorted(shares, key=lambda s: s.receiver):
        entries.update(
            _name(share.receiver)
            + hashlib.sha256(share.ciphertext).digest()
            + encode_field(share.seed_commitment)
            + encode_field(share.key_commitment)
        )
        count += 1
    return signing_payload("share-keys", *context.fields(), digest, dealer, count, entries.digest())
