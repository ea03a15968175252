"""Issue 14: a silo's log (which holds its ε) is witnessed by the server, so truncating or
emptying it is detected by ``fedseal audit verify --deployment``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedseal.audit.deployment import verify_deployment
from fedseal.audit.log import AuditLog
from fedseal.deploy.keyfile import load_identity_key

from .conftest import ServerThread, SiloThread, make_deployment


def _results(root: Path) -> dict[str, bool]:
    results, _ = verify_deployment(root)
    return {r.party: r.report.ok for r in results}


@pytest.mark.parametrize("tamper", ["truncate", "empty", "delete"])
def test_a_truncated_emptied_or_deleted_silo_log_fails_verification(
    tmp_path: Path, names: list[str], tamper: str
) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"rounds": 2})
    logs = {}
    for n in names[:3]:
        cfg = dep.silos[n]
        cfg.audit_log.parent.mkdir(parents=True, exist_ok=True)
        logs[n] = AuditLog(cfg.audit_log, party=n, identity=load_identity_key(cfg.identity_key))
    server = ServerThread(dep).start()
    silos = [SiloThread(dep, n, audit=logs[n]).start() for n in names[:3]]
    server.join()
    for s in silos:
        s.join()
    for log in logs.values():
        log.close()
    assert all(r.completed for r in dep.summaries)
    held = sorted((dep.server.state_dir / "silo-witness").iterdir())
    assert [p.stem for p in held] == sorted(names[:3])  # the server kept each silo's checkpoints
    assert _results(dep.root) == {"server": True, **dict.fromkeys(names[:3], True)}
    victim = dep.silos[names[1]].audit_log
    lines = victim.read_bytes().splitlines(keepends=True)
    if tamper == "delete":  # once "not checked (missing)" with exit 0
        victim.unlink()
    else:
        victim.write_bytes(b"".join(lines[:3]) if tamper == "truncate" else b"")
    after = _results(dep.root)
    assert after[names[1]] is False  # the server's witness material catches it
    assert after["server"] and after[names[0]] and after[names[2]]
