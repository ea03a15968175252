"""The server keeps a silo's own checkpoint only if it is really that silo's, and never two
histories: what one malicious silo (or a forger) could send in ``silo_checkpoint``."""

from __future__ import annotations

from pathlib import Path

from fedseal.audit import events
from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.log import AuditLog
from fedseal.audit.witness import load_checkpoints
from fedseal.secagg.identity import IdentityKey
from fedseal.server.attestation import SILO_WITNESS, keep_silo_checkpoint

A, B = IdentityKey(bytes(range(32))), IdentityKey(bytes(range(1, 33)))


def _checkpoint(path: Path, party: str, key: IdentityKey, tag: str) -> bytes:
    with AuditLog(path, party=party, identity=key) as log:
        log.append(events.PARTY_STARTED, details={"role": "silo", "tag": tag})
        return canonical_bytes(log.checkpoint().to_record())


def test_only_the_silos_own_signed_checkpoint_is_kept(tmp_path: Path) -> None:
    good = _checkpoint(tmp_path / "a.jsonl", "a", A, "x")
    store = tmp_path / "state" / SILO_WITNESS / "a.jsonl"
    (tmp_path / "state").mkdir()
    # another silo's checkpoint, one signed by another key, garbage: refused, nothing stored
    assert not keep_silo_checkpoint(tmp_path / "state", 1, "a", A.public_key,
                                    _checkpoint(tmp_path / "b.jsonl", "b", B, "x"))  # fmt: skip
    assert not keep_silo_checkpoint(tmp_path / "state", 1, "a", B.public_key, good)
    assert not keep_silo_checkpoint(tmp_path / "state", 1, "a", A.public_key, b"\x00not json")
    assert not store.exists() or load_checkpoints(store) == []
    assert keep_silo_checkpoint(tmp_path / "state", 1, "a", A.public_key, good)
    assert len(load_checkpoints(store)) == 1
    # the same silo showing a second history of the same size: refused, the first one stays
    fork = _checkpoint(tmp_path / "a-fork.jsonl", "a", A, "y")
    assert not keep_silo_checkpoint(tmp_path / "state", 2, "a", A.public_key, fork)
    assert [cp.to_record() for cp in load_checkpoints(store)] == [
        cp.to_record() for cp in load_checkpoints(tmp_path / "a.jsonl")
    ]
