"""The documented format, checked from first principles (hashlib + PyNaCl, no fedseal.audit
internals), against tests/vectors/audit/example-server.jsonl."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing

from fedseal.audit import AuditLog, events, verify_log
from fedseal.secagg.identity import IdentityKey

EXAMPLE = Path(__file__).parents[1] / "vectors" / "audit" / "example-server.jsonl"


def test_regenerates_the_example_byte_for_byte(tmp_path: Path) -> None:
    now = [datetime(2025, 1, 31, 12, 0, tzinfo=UTC)]

    def clock() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    path = tmp_path / "a.jsonl"
    with AuditLog(path, party="server", identity=IdentityKey(bytes(32)), clock=clock) as log:
        log.append(events.PARTY_STARTED, details={"role": "server"})
        log.checkpoint()
    assert path.read_bytes() == EXAMPLE.read_bytes()
    assert verify_log(EXAMPLE).ok


def _field(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack(">I", len(data)) + data


def test_independent_check_of_the_example() -> None:
    lines = EXAMPLE.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    e0, e1 = json.loads(lines[0]), json.loads(lines[1])
    assert e0["prev"] == "0" * 64
    assert e1["prev"] == hashlib.sha256(lines[0]).hexdigest()
    root = hashlib.sha256(b"\x00" + lines[0]).digest()  # a one-leaf tree is its leaf hash
    d = e1["details"]
    assert d["size"] == 1 and d["root"] == root.hex()
    payload = (
        b"fedseal/v1/audit-checkpoint\x00"
        + _field(b"s", e1["party"].encode())
        + _field(b"b", bytes.fromhex(d["signer"]))
        + _field(b"i", d["size"].to_bytes(8, "big"))
        + _field(b"b", root)
        + _field(b"s", e1["time"].encode())
    )
    key = nacl.signing.VerifyKey(bytes.fromhex(d["signer"]))
    key.verify(payload, bytes.fromhex(d["signature"]))
