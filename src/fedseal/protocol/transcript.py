"""The exact bytes that are signed, hashed or used as associated data in a round.

All go through :func:`~fedseal.secagg.identity.signing_payload` (domain-separated,
length-prefixed) and bind the deployment id and the round id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from fedseal.protocol.messages import AdvertiseKeys
from fedseal.secagg.identity import signing_payload
from fedseal.secagg.keys import RoundContext

__all__ = ["advertise_payload", "consistency_payload", "key_directory_digest", "share_ad"]


def advertise_payload(
    context: RoundContext, sender: str, c_public: bytes, s_public: bytes
) -> bytes:
    """What a silo signs when it advertises its round keys (Bonawitz et al. §4 round 0)."""
    return signing_payload("advertise-keys", *context.fields(), sender, c_public, s_public)


def key_directory_digest(context: RoundContext, advertisements: Iterable[AdvertiseKeys]) -> bytes:
    """SHA-256 of the advertised keys, sorted by silo: seeds the graph, bound into U3 signatures."""
    fields: list[bytes | str | int] = []
    for ad in sorted(advertisements, key=lambda a: a.sender):
        fields += [ad.sender, ad.c_public, ad.s_public]
    return hashlib.sha256(signing_payload("key-directory", *context.fields(), *fields)).digest()


def consistency_payload(context: RoundContext, survivors: Iterable[str], directory: bytes) -> bytes:
    """What a silo signs in the consistency check: the survivor set U3 and the U1 digest."""
    return signing_payload("consistency", *context.fields(), directory, *sorted(survivors))


def share_ad(context: RoundContext, sender: str, receiver: str) -> bytes:
    """Associated data of an encrypted share from ``sender`` to ``receiver``."""
    return signing_payload("share", *context.fields(), sender, receiver)
