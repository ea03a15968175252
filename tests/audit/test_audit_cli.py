"""`fedseal audit ...` through an argparse harness (src/fedseal/cli.py wiring is separate)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from audit_cli_helpers import Clock, run

from fedseal.audit import AuditLog, WitnessStore, events
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Path]:
    server, silo = tmp_path / "server" / "audit.jsonl", tmp_path / "silo-a" / "audit.jsonl"
    server.parent.mkdir()
    silo.parent.mkdir()
    with AuditLog(server, party="server", identity=SERVER, clock=Clock()) as log:
        log.append(events.PARTY_STARTED, details={"role": "server"})
        log.append(
            events.ROUND_STARTED,
            round=1,
            details={
                "n": 2,
                "t": 2,
                "k": 32,
                "bits": 16,
                "graph": "complete",
                "participants": ["silo-a", "silo-b"],
                "dp": {"eps": 1.0},
            },
        )
        log.append(
            events.DROPOUT,
            round=1,
            details={"silo": "silo-b", "stage": "unmask", "reason": "timeout"},
        )
        log.append(events.CONSISTENCY_RESULT, round=1, details={"survivors": ["silo-a"]})
        released = {"aggregate_sha256": "ab" * 32, "note": "=cmd|' /C calc'!A0"}
        log.append(events.AGGREGATE_RELEASED, round=1, details=released)
        log.checkpoint(round=1)
    with AuditLog(silo, party="silo-a", clock=Clock()) as log:
        log.append(events.KEYS_ADVERTISED, round=1, details={"silo": "silo-a"})
        log.append(events.DP_EPSILON_SPENT, round=1, details={"silo": "silo-a", "epsilon": 0.42})
    return server, silo


def test_verify_prints_the_exact_line(
    logs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    keyfile = logs[0].parent / "server.pub"
    keyfile.write_text(SERVER.public_key.to_bytes().hex() + "\n")
    assert run("audit", "verify", str(logs[0]), "--key", str(keyfile)) == 0
    assert capsys.readouterr().out == "6/6 entries valid, 1/1 checkpoints signed\n"
    assert run("audit", "verify", str(logs[0]), "--key", SERVER.public_key.to_bytes().hex()) == 0
    assert run("audit", "verify", str(logs[1])) == 0
    assert capsys.readouterr().out.endswith("2/2 entries valid, 0/0 checkpoints signed\n")


def test_verify_names_the_first_bad_seq(
    logs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = logs[0].read_bytes().replace(b"timeout", b"timeoux")
    logs[0].write_bytes(data)
    assert run("audit", "verify", str(logs[0])) == 1
    out = capsys.readouterr().out
    assert out.startswith("seq 2 (line 3): ")
    assert "2/6 entries valid" in out


def test_verify_with_witness_and_wrong_key(
    logs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = WitnessStore(tmp_path / "witnessed.jsonl")
    for cp in __import__("fedseal.audit", fromlist=["x"]).load_checkpoints(logs[0]):
        store.add(cp)
    assert run("audit", "verify", str(logs[0]), "--witness", str(store.path)) == 0
    logs[0].write_bytes(b"".join(logs[0].read_bytes().splitlines(keepends=True)[:5]))
    assert run("audit", "verify", str(logs[0]), "--witness", str(store.path)) == 1
    assert "seq 5" in capsys.readouterr().out
    other = IdentityKey(bytes(32)).public_key.to_bytes().hex()
    assert (
        run("audit", "verify", str(logs[1]), "--key", other) == 0
    )  # no checkpoints: nothing to pin
    assert run("audit", "verify", str(logs[0]), "--key", "not-a-key") == 2
    assert run("audit", "verify", str(tmp_path / "missing.jsonl")) == 2


def test_verify_torn_then_repair(
    logs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with logs[1].open("ab") as f:
        f.write(b'{"deta')
    assert run("audit", "verify", str(logs[1])) == 3
    assert "torn last line: 6 bytes after seq 1" in capsys.readouterr().out
    assert run("audit", "repair", str(logs[1])) == 0
    assert "cut 6 torn bytes" in capsys.readouterr().out
    assert run("audit", "verify", str(logs[1])) == 0
    assert run("audit", "repair", str(logs[1])) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_show_filters_and_aligns(
    logs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "show", str(logs[0]), "--round", "1", "--event", "dropout") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].split() == [
        "seq",
        "time",
        "party",
        "event",
        "round",
        "outcome",
        "details",
    ]
    assert out[1].split()[:6] == [
        "2",
        "2025-01-31T12:03:00.000000Z",
        "server",
        "dropout",
        "1",
        "success",
    ]
    assert out[0].index("event") == out[1].index("dropout")
    assert run("audit", "show", str(logs[0]), "--since", "2025-01-31T12:05:00Z") == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert run("audit", "show", str(logs[0]), "--party", "nobody") == 0


def test_export_csv_and_jsonl(logs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert run("audit", "export", str(logs[0]), "--format", "csv", "--out", str(out)) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][:6] == ["seq", "time", "party", "event", "round", "outcome"]
    assert len(rows) == 7
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    out = tmp_path / "out.jsonl"
    assert run("audit", "export", str(logs[0]), "--format", "jsonl", "--out", str(out)) == 0
    assert out.read_bytes() == logs[0].read_bytes()
    assert run("audit", "verify", str(out)) == 0


def test_report_writes_html(logs: tuple[Path, Path], tmp_path: Path) -> None:
    assert run("audit", "report", str(logs[0]), str(logs[1]), "--out", str(tmp_path / "r")) == 0
    html = (tmp_path / "r" / "index.html").read_text()
    for needle in (
        "HIPAA §164.312(b)",
        "§164.312(c)(1)",
        "GDPR Art. 30",
        "Art. 5(2)",
        "silo-b (unmask: timeout)",
        "ab" * 32,
        "silo-a: 0.42",
        "6/6 entries valid",
    ):
        assert needle in html, needle
    assert "<script" not in html
    json.dumps(html)  # plain text
