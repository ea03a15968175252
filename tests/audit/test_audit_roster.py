"""Co-signatures against the roster and a quorum, witness warnings, ``verify --deployment``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_cli_helpers import Clock, run

from fedseal.audit import AuditLog, WitnessStore, events, verify_log
from fedseal.audit.gossip import Witnessed
from fedseal.audit.roster import default_quorum
from fedseal.audit.witness import read_witnesses
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))
SILOS = {name: IdentityKey(bytes([i + 50]) * 32) for i, name in enumerate("abc")}
ROSTER = {name: key.public_key for name, key in SILOS.items()}
FRESH = [IdentityKey(bytes([i + 90]) * 32) for i in range(3)]
TICK = timedelta(seconds=1)  # these logs' clock steps a second per reading


def build(
    path: Path, cosigners: list[IdentityKey], *, rounds: int = 2, tag: str = "x", last: int = -1
) -> list[AuditLog]:
    """Rounds, each checkpointed and co-signed by ``cosigners`` (``last`` of them at the end)."""
    stores = {
        k.public_key: WitnessStore(path.parent / f"w-{i}.jsonl") for i, k in enumerate(cosigners)
    }
    with AuditLog(path, party="server", identity=SERVER, clock=Clock(TICK)) as log:
        for rnd in range(1, rounds + 1):
            log.append(
                events.ROUND_STARTED, round=rnd, details={"n": 3, "t": 3, "k": 2, "tag": tag}
            )
            cp = log.checkpoint(round=rnd)
            signers = cosigners if rnd < rounds or last < 0 else cosigners[:last]
            for key in signers:
                stores[key.public_key].add(cp)
                log.record_cosignature(
                    cp, key.public_key, cp.cosign(key, server_key=SERVER.public_key)
                )
    return []


def test_forked_history_cosigned_under_fresh_keys_fails_with_the_roster(tmp_path: Path) -> None:
    path = tmp_path / "fork" / "audit.jsonl"
    path.parent.mkdir()
    build(path, FRESH, tag="forked")
    assert verify_log(path, key=SERVER.public_key).ok  # the old check passes it
    report = verify_log(path, key=SERVER.public_key, roster=ROSTER)
    assert not report.ok and report.problem is not None
    assert "not in the roster" in report.problem.reason
    assert FRESH[0].public_key.fingerprint() in report.problem.reason


def test_under_quorum_is_reported_and_fails_only_when_strict(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    build(path, list(SILOS.values()), last=1)  # last round's co-signatures cut to one
    report = verify_log(path, key=SERVER.public_key, roster=ROSTER, quorum=2)
    assert report.ok and report.exit_status == 0
    assert [n for _, n in report.under_witnessed] == [1]
    assert any("under-witnessed" in w for w in report.warnings)
    strict = verify_log(path, key=SERVER.public_key, roster=ROSTER, quorum=2, strict=True)
    assert not strict.ok and strict.exit_status == 1
    assert strict.problem is not None and "under-witnessed" in strict.problem.reason
    assert verify_log(path, key=SERVER.public_key, roster=ROSTER, quorum=1, strict=True).ok


def test_default_quorum_is_the_threshold() -> None:
    assert default_quorum(3) == 3
    assert default_quorum(5) == 4
    assert default_quorum(10, 0.2) == 7
    assert default_quorum(2) == 2


def test_garbage_and_other_party_witness_files_warn(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    build(path, [SILOS["a"]])
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xffnot json\n{}\n[1,2]\n")
    other = tmp_path / "other.jsonl"
    with AuditLog(other, party="silo-z", identity=FRESH[0], clock=Clock(TICK)) as log:
        log.append(events.PARTY_STARTED, details={"role": "silo"})
        log.checkpoint()
    found, notes = read_witnesses(garbage)
    assert found == [] and len(notes) == 4  # three bad lines, and "holds no checkpoint"
    other_found, _ = read_witnesses(other)
    report = verify_log(path, key=SERVER.public_key, witnesses=other_found)
    assert report.ok
    assert any("'silo-z'" in w and "ignored" in w for w in report.warnings)


def test_witness_signature_under_another_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    build(path, [SILOS["a"]])
    found, _ = read_witnesses(tmp_path / "w-0.jsonl", "silo a")
    report = verify_log(path, key=FRESH[1].public_key, witnesses=found)
    warning = " ".join(report.warnings)
    assert (
        f"signed by another key ({SERVER.public_key.fingerprint()}), not the pinned one" in warning
    )
    assert "bad signature" not in warning


def test_equivocation_names_both_sources(tmp_path: Path) -> None:
    honest, forked = tmp_path / "h" / "audit.jsonl", tmp_path / "f" / "audit.jsonl"
    honest.parent.mkdir()
    forked.parent.mkdir()
    build(honest, [SILOS["a"]], tag="honest")
    build(forked, [SILOS["b"]], tag="forked")
    seen = [
        Witnessed(w.checkpoint, "silo a's store")
        for w in read_witnesses(honest.parent / "w-0.jsonl")[0]
    ]
    report = verify_log(forked, key=SERVER.public_key, witnesses=seen)
    assert report.problem is not None and "equivocation" in report.problem.reason
    assert "silo a's store" in report.problem.reason and "in the log" in report.problem.reason
    both = seen + [
        Witnessed(w.checkpoint, "silo b's store")
        for w in read_witnesses(forked.parent / "w-0.jsonl")[0]
    ]
    report = verify_log(forked, key=SERVER.public_key, witnesses=both)
    assert report.problem is not None
    assert "silo a's store" in report.problem.reason and "silo b's store" in report.problem.reason


@pytest.mark.parametrize(
    "details",
    [
        {"checkpoint_seq": [1], "witness": "00", "signature": "00"},
        {"checkpoint_seq": 1, "witness": "ab" * 31, "signature": "00" * 64},
        {"checkpoint_seq": 1, "witness": "zz", "signature": None},
    ],
)
def test_hostile_cosignature_entries_are_invalid_not_crashes(
    tmp_path: Path, details: dict[str, object]
) -> None:
    from fedseal.audit.canonical import canonical_bytes
    from fedseal.audit.entry import parse_entry

    path = tmp_path / "audit.jsonl"
    build(path, [SILOS["a"]], rounds=1)
    lines = path.read_bytes().splitlines()
    last = parse_entry(lines[-1])
    import hashlib

    bad = {
        "seq": last.seq + 1,
        "time": last.time,
        "party": "server",
        "event": "checkpoint_cosigned",
        "round": None,
        "outcome": "success",
        "details": details,
        "prev": hashlib.sha256(lines[-1]).hexdigest(),
    }
    path.write_bytes(path.read_bytes() + canonical_bytes(bad) + b"\n")
    report = verify_log(path, roster=ROSTER)
    assert not report.ok and report.problem is not None and report.problem.seq == last.seq + 1


def deployment(tmp_path: Path, *, last: int = -1, present: str = "abc") -> Path:
    """A folder laid out like ``fedseal provision`` output, logs built with ``AuditLog``."""
    root = tmp_path / "dep"
    (root / "server").mkdir(parents=True)
    ids = "\n".join(f'{n} = "{k.to_bytes().hex()}"' for n, k in ROSTER.items())
    (root / "server" / "server.toml").write_text(
        'silos = ["a", "b", "c"]\naudit_log = "audit.jsonl"\ncorruption = 0.05\n'
        f"[identities]\n{ids}\n"
    )
    build(root / "server" / "audit.jsonl", list(SILOS.values()), last=last)
    for i, name in enumerate("abc"):
        if name not in present:
            continue
        silo = root / "silos" / name
        (silo / "state").mkdir(parents=True)
        (silo / "silo.toml").write_text(
            f'silo = "{name}"\nserver_identity = "{SERVER.public_key.to_bytes().hex()}"\n'
            'state_dir = "state"\naudit_log = "audit.jsonl"\n'
        )
        (root / "server" / f"w-{i}.jsonl").rename(silo / "state" / "witnessed-checkpoints.jsonl")
        with AuditLog(
            silo / "audit.jsonl",
            party=name,
            identity=SILOS[name],
            clock=Clock(TICK),
        ) as log:
            log.append(events.PARTY_STARTED, details={"role": "silo"})
            log.checkpoint()
    return root


def test_cli_deployment_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = deployment(tmp_path)
    assert run("audit", "verify", "--deployment", str(root), "--strict") == 0
    out = capsys.readouterr()
    assert out.out.count(": OK: ") == 4
    assert "co-signed by quorum 3" in out.out


def test_cli_deployment_cut_cosignatures_fail_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = deployment(tmp_path, last=2)
    assert run("audit", "verify", "--deployment", str(root)) == 0
    assert "under-witnessed" in capsys.readouterr().err
    assert run("audit", "verify", "--deployment", str(root), "--strict") == 1
    assert run("audit", "verify", "--deployment", str(root), "--strict", "--quorum", "2") == 0


def test_cli_deployment_missing_silo_and_garbage_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = deployment(tmp_path, present="ab")
    (root / "silos" / "b" / "state" / "witnessed-checkpoints.jsonl").write_bytes(b"garbage\n")
    assert run("audit", "verify", "--deployment", str(root)) == 0
    err = capsys.readouterr().err
    assert "silo c" in err and "not checked" in err
    assert "silo b's witness store line 1 ignored" in err


def test_cli_roster_flag_rejects_fresh_cosigners(tmp_path: Path) -> None:
    root = deployment(tmp_path)
    fork = tmp_path / "fork.jsonl"
    build(fork, FRESH, tag="forked")
    toml = str(root / "server" / "server.toml")
    assert run("audit", "verify", str(fork), "--key", SERVER.public_key.to_bytes().hex()) == 0
    assert run("audit", "verify", str(fork), "--roster", toml) == 1
    assert run("audit", "verify", "--deployment", str(root / "nowhere")) == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda d: {**d, "witness": d["witness"].upper()},
        lambda d: {**d, "signature": d["signature"].upper()},
        lambda d: {**d, "note": "extra"},
    ],
    ids=["upper-case-witness", "upper-case-signature", "extra-member"],
)
def test_a_cosignature_entry_is_held_to_its_exact_form(tmp_path: Path, change: Any) -> None:
    """Once read leniently (bytes.fromhex, extra members ignored); docs/audit-format.md §11 3f."""
    from fedseal.audit.canonical import canonical_bytes
    from fedseal.audit.entry import parse_entry

    path = tmp_path / "audit.jsonl"
    build(path, [SILOS["a"]], rounds=1)
    lines = path.read_bytes().splitlines()
    last = parse_entry(lines[-1])
    assert last.event == "checkpoint_cosigned" and verify_log(path, roster=ROSTER).ok
    record = json.loads(lines[-1])
    record["details"] = change(record["details"])
    path.write_bytes(b"\n".join([*lines[:-1], canonical_bytes(record)]) + b"\n")
    report = verify_log(path, roster=ROSTER)
    assert not report.ok and report.problem is not None and report.problem.seq == last.seq


def test_quorum_and_strict_without_a_roster_are_refused(tmp_path: Path) -> None:
    """They counted no co-signer without a roster, so they did nothing, silently."""
    path = tmp_path / "audit.jsonl"
    build(path, [SILOS["a"]], rounds=1)
    assert run("audit", "verify", str(path)) == 0
    for flags in (["--strict"], ["--quorum", "2"]):
        assert run("audit", "verify", str(path), *flags) == 2  # a ConfigError: exit 2


def test_a_pinned_key_on_a_log_without_checkpoints_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, party="server", identity=SERVER) as log:
        log.append(events.PROVISIONING, details={"action": "ca_created"})
    other = IdentityKey.generate().public_key
    report = verify_log(path, key=other)
    assert report.ok  # chain-valid; but nothing signed shows who wrote it
    assert any("was not checked: the log has no valid checkpoint" in w for w in report.warnings)
