"""AuditLog: entries, resume, clock, guard, batching, checkpoints, co-signatures, witnesses."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from fedseal.audit import (
    AuditLog,
    Checkpoint,
    WitnessStore,
    events,
    load_checkpoints,
    repair_log,
    verify_log,
)
from fedseal.audit.entry import ZERO_HASH
from fedseal.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from fedseal.errors import AuditIntegrityError, AuthenticationError, ConfigError, ProtocolViolation
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))
SILO = IdentityKey(bytes(range(2, 34)))


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def test_entry_fields_and_chain(path: Path) -> None:
    with AuditLog(path, party="server", clock=Clock()) as log:
        e0 = log.append(events.PARTY_STARTED, details={"role": "server"})
        e1 = log.append(events.ROUND_STARTED, round=1, details={"n": 5, "t": 3, "dp": {"eps": 1.5}})
    assert (e0.seq, e0.prev, e1.seq, e1.prev) == (0, ZERO_HASH, 1, e0.digest)
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == (
        b'{"details":{"role":"server"},"event":"party_started","outcome":"success",'
        b'"party":"server","prev":"' + ZERO_HASH.encode() + b'","round":null,"seq":0,'
        b'"time":"2025-01-31T12:00:01.000000Z"}'
    )
    assert json.loads(lines[1])["time"] == "2025-01-31T12:00:02.000000Z"
    assert lines[2] == b""


def test_clock_in_other_zone_is_stored_as_utc(path: Path) -> None:
    cet = timezone(timedelta(hours=1))
    with AuditLog(path, party="s1", clock=Clock(datetime(2025, 6, 1, 9, 0, tzinfo=cet))) as log:
        assert log.append(events.PARTY_STARTED).time == "2025-06-01T08:00:01.000000Z"


def test_naive_clock_is_refused(path: Path) -> None:
    with (
        AuditLog(path, party="s1", clock=lambda: datetime(2025, 1, 1)) as log,
        pytest.raises(ConfigError, match="naive"),
    ):
        log.append(events.PARTY_STARTED)


def test_reopen_resumes_seq_and_prev(path: Path) -> None:
    with AuditLog(path, party="server", identity=SERVER, clock=Clock()) as log:
        for i in range(5):
            log.append(events.SHARES_ROUTED, round=1, details={"count": i})
        cp = log.checkpoint(round=1)
        last = log.append(events.DROPOUT, round=1, details={"silo": "b", "stage": "unmask"})
    with AuditLog(path, party="server", identity=SERVER, clock=Clock()) as log:
        assert log.size == 7 and log.checkpoints() == [cp]
        nxt = log.append(events.ROUND_FINISHED, round=1)
    assert (nxt.seq, nxt.prev) == (7, last.digest)
    assert verify_log(path, key=SERVER.public_key).ok


def test_reopen_refuses_other_party_bad_log_and_wrong_key(path: Path) -> None:
    with AuditLog(path, party="server", identity=SERVER) as log:
        log.append(events.PARTY_STARTED)
        log.checkpoint()
    with pytest.raises(ConfigError, match="log of 'server'"):
        AuditLog(path, party="silo-1")
    with pytest.raises(AuditIntegrityError, match="expected key"):
        AuditLog(path, party="server", identity=SILO)
    path.write_bytes(path.read_bytes().replace(b"party_started", b"party_startee"))
    with pytest.raises(AuditIntegrityError, match="seq 0"):
        AuditLog(path, party="server")


def test_second_writer_is_locked_out(path: Path) -> None:
    with AuditLog(path, party="server"), pytest.raises(ConfigError, match="another process"):
        AuditLog(path, party="server")


@pytest.mark.parametrize(
    ("details", "match"),
    [
        ({"digest": b"\x00" * 32}, "bytes"),
        ({"update": np.zeros(4)}, "ndarray"),
        ({"seed": "abc"}, "secret"),
        ({"share": 1}, "secret"),
        ({"private_key": "x"}, "secret"),
        ({"nested": {"maskSeed": "x"}}, r"\$\.nested\.maskSeed"),
        ({"x": "a" * 5000}, "longer"),
        ({"x": list(range(5000))}, "longer"),
        ({1: "x"}, "keys must be str"),
        ({"x": float("nan")}, "NaN"),
        ({"x": object()}, "not allowed"),
    ],
)
def test_guard_refuses_secrets_and_raw_data(path: Path, details: dict, match: str) -> None:  # type: ignore[type-arg]
    with AuditLog(path, party="s1") as log, pytest.raises(ConfigError, match=match):
        log.append(events.KEYS_ADVERTISED, details=details)
    assert path.read_bytes() == b""  # nothing was written


def test_guard_allows_counts_and_digests(path: Path) -> None:
    ok = {
        "shares_count": 4,
        "key_fingerprint": "ab",
        "aggregate_sha256": "00" * 32,
        "silo": "s1",
        "epsilon": 0.5,
        "dp": {"noise_multiplier": 1.1},
    }
    with AuditLog(path, party="s1") as log:
        log.append(events.SHARES_ROUTED, round=0, details=ok)


def test_unknown_reserved_events_and_bad_outcomes_are_refused(path: Path) -> None:
    with AuditLog(path, party="s1") as log:
        for event in ("nope", events.CHECKPOINT, events.LOG_REPAIRED):
            with pytest.raises(ConfigError, match="event"):
                log.append(event)
        with pytest.raises(ConfigError, match="outcome"):
            log.append(events.DROPOUT, outcome="meh")
        with pytest.raises(ConfigError, match="round"):
            log.append(events.DROPOUT, round=-1)
        with pytest.raises(ConfigError, match="identity"):
            log.checkpoint()


def test_fsync_per_append_and_once_per_batch(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with AuditLog(path, party="s1") as log:
        calls.clear()
        log.append(events.PARTY_STARTED)
        log.append(events.PARTY_AUTHENTICATED)
        assert len(calls) == 2
        with log.batch():
            for _ in range(10):
                log.append(events.SHARES_ROUTED, details={"count": 1})
            with log.batch():  # nested: still one fsync, at the outermost exit
                log.append(events.SHARES_ROUTED, details={"count": 2})
            assert len(calls) == 2
        assert len(calls) == 3


def test_checkpoint_cosign_and_witness_flow(path: Path, tmp_path: Path) -> None:
    with AuditLog(path, party="server", identity=SERVER, clock=Clock()) as log:
        for i in range(3):
            log.append(events.KEYS_ADVERTISED, round=1, details={"silo": f"s{i}"})
        cp = log.checkpoint(round=1)
        assert (cp.size, cp.root, cp.party) == (3, log.root(3), "server")

        # the silo's side
        cosig = Checkpoint.cosign(cp, SILO, server_key=SERVER.public_key)
        store = WitnessStore(tmp_path / "witnessed.jsonl")
        store.add(cp)
        store.add(cp)  # idempotent

        log.record_cosignature(cp, SILO.public_key, cosig)
        with pytest.raises(AuthenticationError):
            log.record_cosignature(cp, SERVER.public_key, cosig)
        with pytest.raises(ConfigError, match="not a checkpoint"):
            log.record_cosignature(
                Checkpoint.sign(SERVER, party="server", size=9, root=cp.root, time=cp.time),
                SILO.public_key,
                cosig,
            )
        log.append(events.ROUND_FINISHED, round=1)
        cp2 = log.checkpoint(round=1)

        # inclusion of seq 1 in checkpoint 2; consistency of checkpoint 1 -> 2
        verify_inclusion(
            leaf_hash(path.read_bytes().split(b"\n")[1]),
            1,
            cp2.size,
            log.inclusion_proof(1, cp2.size),
            cp2.root,
        )
        verify_consistency(
            cp.size, cp2.size, cp.root, cp2.root, log.consistency_proof(cp.size, cp2.size)
        )

    assert WitnessStore(tmp_path / "witnessed.jsonl").checkpoints() == [cp]
    report = verify_log(path, key=SERVER.public_key, witnesses=[cp])
    assert report.ok and report.cosignatures == 1 and report.witnessed == 1
    assert report.summary() == "7/7 entries valid, 2/2 checkpoints signed"


def test_silo_refuses_to_cosign_a_checkpoint_from_another_key(path: Path) -> None:
    with AuditLog(path, party="server", identity=SILO) as log:
        cp = log.checkpoint()
    with pytest.raises(AuthenticationError):
        cp.cosign(SILO, server_key=SERVER.public_key)


def test_witness_store_detects_equivocation(path: Path, tmp_path: Path) -> None:
    a = Checkpoint.sign(SERVER, party="server", size=4, root=b"\x01" * 32, time="t")
    b = Checkpoint.sign(SERVER, party="server", size=4, root=b"\x02" * 32, time="t")
    store = WitnessStore(tmp_path / "w.jsonl")
    store.add(a)
    with pytest.raises(ProtocolViolation, match="two different"):
        store.add(b)
    assert load_checkpoints(tmp_path / "w.jsonl") == [a]


def test_torn_tail_is_reported_refused_and_repaired(path: Path) -> None:
    with AuditLog(path, party="s1", clock=Clock()) as log:
        for i in range(4):
            log.append(events.SHARES_ROUTED, details={"count": i})
    good = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"details":{"cou')
    report = verify_log(path)
    assert report.problem is None and report.torn_bytes == 16 and report.exit_status == 3
    assert "torn last line: 16 bytes after seq 3" in report.summary()
    with pytest.raises(AuditIntegrityError, match="repair"):
        AuditLog(path, party="s1")

    result = repair_log(path, clock=Clock())
    assert result is not None and result.cut_bytes == 16
    assert result.entry.seq == 4 and result.entry.event == events.LOG_REPAIRED
    assert (
        result.entry.details["cut_sha256"]
        == __import__("hashlib").sha256(b'{"details":{"cou').hexdigest()
    )
    assert path.read_bytes().startswith(good)
    assert verify_log(path).ok
    assert repair_log(path) is None
    with AuditLog(path, party="s1") as log:
        assert log.append(events.PARTY_STARTED).seq == 5


def test_last_line_that_is_not_json_counts_as_torn(path: Path) -> None:
    with AuditLog(path, party="s1") as log:
        log.append(events.PARTY_STARTED)
    with path.open("ab") as f:
        f.write(b"\x00\x00\x00\n")
    report = verify_log(path)
    assert report.torn_bytes == 4 and "not valid JSON" in report.torn_reason


def test_repair_refuses_a_tampered_log(path: Path) -> None:
    with AuditLog(path, party="s1") as log:
        for i in range(3):
            log.append(events.SHARES_ROUTED, details={"count": i})
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[1], lines[0], *lines[2:]]) + b"{")
    with pytest.raises(AuditIntegrityError, match="investigation"):
        repair_log(path)


def test_repair_of_a_log_with_no_complete_entry_needs_the_party(path: Path) -> None:
    path.write_bytes(b'{"det')
    with pytest.raises(ConfigError, match="party"):
        repair_log(path)
    result = repair_log(path, party="s1")
    assert result is not None and result.entry.seq == 0 and verify_log(path).ok
