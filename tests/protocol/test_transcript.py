"""The signed and hashed encodings of a round: pinned to their documented definitions."""

from __future__ import annotations

import hashlib

import pytest

from fedseal.protocol.messages import EncryptedShare
from fedseal.protocol.transcript import share_commitment, share_keys_payload
from fedseal.secagg.identity import signing_payload
from fedseal.secagg.keys import RoundContext


@pytest.mark.parametrize("kind", ["b", "s"])
def test_share_commitment_is_the_documented_hash(kind: str) -> None:
    context = RoundContext("dep", 7)
    share = bytes(range(32))
    reference = signing_payload("share-commitment", "dep", 7, kind, "silo-a", "silo-b", share)
    assert share_commitment(context, kind, "silo-a", "silo-b", share) == (
        hashlib.sha256(reference).digest()
    )
    # Every bound field changes it.
    others = {
        share_commitment(RoundContext("dep", 8), kind, "silo-a", "silo-b", share),
        share_commitment(RoundContext("dep2", 7), kind, "silo-a", "silo-b", share),
        share_commitment(context, "s" if kind == "b" else "b", "silo-a", "silo-b", share),
        share_commitment(context, kind, "silo-b", "silo-a", share),
        share_commitment(context, kind, "silo-a", "silo-b", share[::-1]),
    }
    assert len(others) == 5 and share_commitment(context, kind, "silo-a", "silo-b", share) not in (
        others
    )
    with pytest.raises(ValueError):
        share_commitment(context, "x", "silo-a", "silo-b", share)


def test_share_keys_payload_covers_every_entry_in_any_order() -> None:
    context = RoundContext("dep", 1)
    shares = [
        EncryptedShare("silo-a", r, bytes([i]) * 60, bytes([i]) * 32, bytes([i + 1]) * 32)
        for i, r in enumerate(["silo-b", "silo-c"])
    ]
    payload = share_keys_payload(context, b"d" * 32, "silo-a", shares)
    assert payload == share_keys_payload(context, b"d" * 32, "silo-a", shares[::-1])
    changed = [
        EncryptedShare("silo-a", "silo-b", b"\x00" * 60, b"\x00" * 32, b"\x01" * 32),
        EncryptedShare("silo-a", "silo-b", b"\x00" * 60, b"\x09" * 32, b"\x01" * 32),
        EncryptedShare("silo-a", "silo-d", b"\x00" * 60, b"\x00" * 32, b"\x01" * 32),
    ]
    for first in changed[1:]:
        assert share_keys_payload(context, b"d" * 32, "silo-a", [first, shares[1]]) != payload
    assert share_keys_payload(context, b"e" * 32, "silo-a", shares) != payload
    assert share_keys_payload(context, b"d" * 32, "silo-a", shares[:1]) != payload
