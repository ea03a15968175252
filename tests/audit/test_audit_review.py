"""`fedseal audit show|export|report` verify first and mark what does not verify."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from audit_cli_helpers import Clock, run

from fedseal.audit import AuditLog, WitnessStore, events, load_checkpoints
from fedseal.audit.export import format_table, read_entries
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))
MALLORY = IdentityKey(bytes(range(1, 33)))


def write_log(path: Path, key: IdentityKey = SERVER) -> Path:
    """seq 0-4 events, 5 checkpoint, 6 an event after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with AuditLog(path, party="server", identity=key, clock=Clock()) as log:
        log.append(events.PARTY_STARTED, details={"role": "server"})
        log.append(events.ROUND_STARTED, round=1, details={"participants": ["silo-a", "silo-b"]})
        log.append(
            events.DROPOUT, round=1, details={"silo": "silo-b", "stage": "unmask", "reason": "gone"}
        )
        log.append(events.CONSISTENCY_RESULT, round=1, details={"survivors": ["silo-a"]})
        log.append(events.AGGREGATE_RELEASED, round=1, details={"aggregate_sha256": "ab" * 32})
        log.checkpoint(round=1)
        log.append(events.DP_EPSILON_SPENT, round=1, details={"silo": "silo-a", "epsilon": 0.5})
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "server" / "audit.jsonl")


@pytest.fixture
def tampered(log: Path) -> Path:
    log.write_bytes(log.read_bytes().replace(b'"gone"', b'"gona"'))  # seq 2
    return log


KEY = SERVER.public_key.to_bytes().hex()


def test_untouched_log_reviews_exactly_as_before(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "show", str(log), "--key", KEY) == 0
    captured = capsys.readouterr()
    assert captured.out == format_table(read_entries(log)[0]) + "\n"
    assert "UNVERIFIED" not in captured.err
    out = tmp_path / "out.jsonl"
    assert run("audit", "export", str(log), "--format", "jsonl", "--out", str(out)) == 0
    assert out.read_bytes() == log.read_bytes()
    assert run("audit", "export", str(log), "--format", "csv", "--out", str(out)) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][-1] == "verified" and {r[-1] for r in rows[1:]} == {"true"}
    assert run("audit", "report", str(log), "--out", str(tmp_path / "r"), "--key", KEY) == 0
    html = (tmp_path / "r" / "index.html").read_text()
    assert "UNVERIFIED" not in html and "every log verifies" in html
    assert SERVER.public_key.fingerprint() in html
    assert "silo-b (unmask: gone)" in html


def test_show_marks_every_entry_from_the_first_bad_seq(
    tampered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "show", str(tampered)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("UNVERIFIED from seq 2: ")
    rows = captured.out.splitlines()[1:]
    assert [r.startswith("UNVERIFIED ") for r in rows] == [False] * 2 + [True] * 5
    assert rows[2].split()[1:5] == ["2", "2025-01-31T12:03:00.000000Z", "server", "dropout"]
    assert run("audit", "show", str(tampered), "--event", "party_started") == 1
    assert "UNVERIFIED " not in capsys.readouterr().out


def test_export_marks_unverified_entries(tampered: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert run("audit", "export", str(tampered), "--format", "csv", "--out", str(out)) == 1
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert [r[-1] for r in rows[1:]] == ["true"] * 2 + ["false"] * 5
    out = tmp_path / "out.jsonl"
    assert run("audit", "export", str(tampered), "--format", "jsonl", "--out", str(out)) == 1
    lines = out.read_bytes().splitlines()
    assert lines[:2] == tampered.read_bytes().splitlines()[:2]
    objs = [json.loads(line) for line in lines]
    assert ["verified" in o for o in objs] == [False] * 2 + [True] * 5
    assert all(o["verified"] is False for o in objs[2:])
    assert objs[2]["details"]["reason"] == "gona"


def test_report_marks_unverified_content_in_every_table(tampered: Path, tmp_path: Path) -> None:
    assert run("audit", "report", str(tampered), "--out", str(tmp_path / "r")) == 1
    html = (tmp_path / "r" / "index.html").read_text()
    assert "NOT every log verifies" in html and "key not pinned" in html
    assert "UNVERIFIED from seq 2" in html
    for value in ("silo-b (unmask: gona)", "server: success", "ab" * 32, "silo-a: 0.5"):
        assert f"UNVERIFIED: {value}" in html, value
        assert html.count(value) == 1, value  # never also shown unmarked
    assert "<code>dropout</code> (0) <span" in html and "+ 1 UNVERIFIED" in html


def test_resealed_log_passes_unpinned_but_not_with_the_real_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = write_log(tmp_path / "forged.jsonl", key=MALLORY)
    assert run("audit", "show", str(forged)) == 0
    assert "UNVERIFIED" not in capsys.readouterr().out
    assert run("audit", "show", str(forged), "--key", KEY) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("UNVERIFIED from seq 5: checkpoint signed by key")
    assert [r.startswith("UNVERIFIED ") for r in captured.out.splitlines()[1:]] == [False] * 5 + [
        True
    ] * 2
    assert run("audit", "export", str(forged), "--format", "csv", "--key", KEY) == 1
    assert run("audit", "report", str(forged), "--out", str(tmp_path / "r"), "--key", KEY) == 1
    assert "UNVERIFIED: silo-a: 0.5" in (tmp_path / "r" / "index.html").read_text()


def test_witness_pins_review(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = WitnessStore(tmp_path / "witnessed.jsonl")
    for cp in load_checkpoints(log):
        store.add(cp)
    forged = write_log(tmp_path / "forged.jsonl", key=MALLORY)
    assert run("audit", "show", str(log), "--witness", str(store.path)) == 0
    assert run("audit", "show", str(forged), "--witness", str(store.path)) == 1
    assert "UNVERIFIED from seq" in capsys.readouterr().err
    out = tmp_path / "r"
    assert run("audit", "report", str(log), "--out", str(out), "--witness", str(store.path)) == 0
    html = (out / "index.html").read_text()
    assert str(store.path) in html and "1 checkpoint(s) matched by witnesses" in html
