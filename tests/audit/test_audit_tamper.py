"""Tampering with a log is detected, and located at the right ``seq``."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedseal.audit import AuditLog, WitnessStore, events, load_checkpoints, verify_log
from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.verify import verify_bytes
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))
MALLORY = IdentityKey(bytes(range(1, 33)))
SILO = IdentityKey(bytes(range(2, 34)))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=250)
        return self.now


def write_log(path: Path, key: IdentityKey = SERVER) -> None:
    """seq 0-9 events, 10 checkpoint, 11-20 events, 21 checkpoint, 22-26 events."""
    with AuditLog(path, party="server", identity=key, clock=Clock()) as log:
        for rnd in (1, 2):
            log.append(events.ROUND_STARTED, round=rnd, details={"n": 3, "t": 2, "k": 32})
            for i in range(9):
                log.append(
                    events.SHARES_ROUTED, round=rnd, details={"silo": f"silo-{i}", "count": i}
                )
            log.checkpoint(round=rnd)
        for i in range(5):
            log.append(events.DROPOUT, round=3, details={"silo": f"s{i}", "stage": "unmask"})


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "server.jsonl"
    write_log(path)
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def store(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def first_bad(path: Path, **kwargs: object) -> int:
    report = verify_log(path, **kwargs)  # type: ignore[arg-type]
    assert not report.ok and report.problem is not None, report.summary()
    return report.problem.seq


def test_untouched_log_verifies(log_path: Path) -> None:
    report = verify_log(log_path, key=SERVER.public_key)
    assert report.ok
    assert report.summary() == "27/27 entries valid, 2/2 checkpoints signed"


def test_edit_one_byte_of_a_details_value(log_path: Path) -> None:
    lines = lines_of(log_path)
    assert b'"silo":"silo-3"' in lines[4]
    lines[4] = lines[4].replace(b'"silo":"silo-3"', b'"silo":"silo-4"')
    store(log_path, lines)
    assert first_bad(log_path) == 4


def test_edit_inside_an_entry_after_the_last_checkpoint(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[23] = lines[23].replace(b"unmask", b"unmasK")
    store(log_path, lines)
    assert first_bad(log_path) == 23


def test_delete_a_line(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[6]
    store(log_path, lines)
    assert first_bad(log_path) == 6


def test_insert_a_forged_line(log_path: Path) -> None:
    lines = lines_of(log_path)
    forged = json.loads(lines[6])
    forged["details"] = {"silo": "ghost", "count": 99}
    forged["prev"] = hashlib.sha256(lines[5]).hexdigest()  # chains correctly to seq 5
    lines.insert(6, canonical_bytes(forged))
    store(log_path, lines)
    report = verify_log(log_path)
    assert report.problem is not None and report.problem.seq == 6
    assert "twice" in report.problem.reason


def test_insert_a_badly_chained_forged_line(log_path: Path) -> None:
    lines = lines_of(log_path)
    forged = json.loads(lines[6])
    forged["details"] = {"silo": "ghost"}
    lines.insert(6, canonical_bytes(forged))
    store(log_path, lines)
    assert first_bad(log_path) == 6


def test_swap_two_lines(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[12], lines[13] = lines[13], lines[12]
    store(log_path, lines)
    assert first_bad(log_path) == 12


def test_truncate_before_the_last_checkpoint(log_path: Path, tmp_path: Path) -> None:
    witness = WitnessStore(tmp_path / "silo-witness.jsonl")
    for cp in load_checkpoints(log_path):  # what a silo co-signed during the rounds
        cp.cosign(SILO, server_key=SERVER.public_key)
        witness.add(cp)
    backup = tmp_path / "backup.jsonl"
    shutil.copy(log_path, backup)
    store(log_path, lines_of(log_path)[:21])  # seq 21 is the last checkpoint

    assert verify_log(log_path, key=SERVER.public_key).ok  # a prefix alone looks fine ...
    assert first_bad(log_path, witnesses=witness.checkpoints()) == 21  # ... the witness knows
    assert first_bad(log_path, witnesses=load_checkpoints(backup)) == 21


def test_resign_every_checkpoint_with_a_new_key(log_path: Path, tmp_path: Path) -> None:
    witness = WitnessStore(tmp_path / "silo-witness.jsonl")
    for cp in load_checkpoints(log_path):
        witness.add(cp)
    forged = tmp_path / "forged.jsonl"
    write_log(forged, key=MALLORY)  # same entries, every checkpoint signed by another key
    assert lines_of(forged)[:10] == lines_of(log_path)[:10]

    assert verify_log(forged).ok  # unpinned: self-consistent (documented limitation)
    assert verify_log(forged).warnings
    assert first_bad(forged, key=SERVER.public_key) == 10
    assert first_bad(forged, witnesses=witness.checkpoints()) == 10


def test_rewritten_history_contradicts_the_witness(log_path: Path, tmp_path: Path) -> None:
    cps = load_checkpoints(log_path)
    path = tmp_path / "rewritten.jsonl"
    with AuditLog(path, party="server", identity=SERVER, clock=Clock()) as log:
        log.append(events.ROUND_STARTED, round=1, details={"n": 3, "t": 2, "k": 64})
        for i in range(9):
            log.append(events.SHARES_ROUTED, round=1, details={"silo": f"silo-{i}", "count": i})
        log.checkpoint(round=1)
    report = verify_log(path, key=SERVER.public_key, witnesses=cps)
    assert report.problem is not None and report.problem.seq == 10
    assert "co-signed" in report.problem.reason


def test_wrong_party_and_wrong_first_prev(log_path: Path) -> None:
    lines = lines_of(log_path)
    entry = json.loads(lines[0])
    entry["prev"] = "1" * 64
    store(log_path, [canonical_bytes(entry), *lines[1:]])
    assert first_bad(log_path) == 0


def test_non_canonical_line_is_refused(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[3] = lines[3].replace(b'{"details"', b'{ "details"')
    store(log_path, lines)
    report = verify_log(log_path)
    assert report.problem is not None and report.problem.seq == 3
    assert "canonical" in report.problem.reason


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("prop") / "base.jsonl"
    with AuditLog(path, party="server", identity=SERVER, clock=Clock()) as log:
        for i in range(6):
            log.append(events.SHARES_ROUTED, round=1, details={"silo": f"s{i}", "count": i})
        log.checkpoint(round=1)
        log.append(events.DROPOUT, round=1, details={"silo": "s9", "stage": "unmask"})
        log.checkpoint(round=1)
    return path.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_single_byte_edit_is_detected_at_its_seq(base: bytes, data: st.DataObject) -> None:
    """Edits before the last two lines: the last entry is protected only by later entries."""
    last_two = base.rfind(b"\n", 0, base[:-1].rfind(b"\n")) + 1
    offset = data.draw(st.integers(0, last_two - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != base[offset]))
    edited = base[:offset] + bytes([byte]) + base[offset + 1 :]
    report, _ = verify_bytes(edited, key=SERVER.public_key)
    assert report.problem is not None, report.summary()
    assert report.problem.seq == base[:offset].count(b"\n")


@pytest.mark.parametrize("depth", [50_000, 900])
def test_a_deeply_nested_line_is_invalid_not_a_crash(log_path: Path, depth: int) -> None:
    """Issue 14: one hostile line used to end `fedseal audit verify` with a RecursionError."""
    lines = lines_of(log_path)
    lines[5] = b"[" * depth + b"]" * depth
    store(log_path, lines)
    assert first_bad(log_path) == 5
