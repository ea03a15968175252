"""The crash window around a model update: the release is audited before the model moves, and a
restart commits a staged model only if the audit log records its release (issue 14)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.server.app import logged_entries, released_models
from fedseal.server.state import ServerState

from .test_driver import SILOS, _driver, answer


def test_a_staged_model_is_committed_only_if_its_release_was_audited(tmp_path: Path) -> None:
    state = ServerState(tmp_path, deployment_id="d")
    state.finish_round(np.zeros(3))
    digest = state.stage_model(np.ones(3))
    assert state.staged_model() == digest and state.completed == 1
    again = ServerState(tmp_path, deployment_id="d")
    assert again.reconcile(set()) == "discarded"  # no release recorded: never happened
    np.testing.assert_array_equal(again.load_model(), np.zeros(3))
    assert again.staged_model() is None and again.completed == 1
    digest = again.stage_model(np.ones(3))
    third = ServerState(tmp_path, deployment_id="d")
    assert third.reconcile({digest}) == "committed"
    np.testing.assert_array_equal(third.load_model(), np.ones(3))
    assert third.completed == 2 and ServerState(tmp_path, deployment_id="d").completed == 2
    assert third.reconcile({digest}) is None  # nothing staged any more


def test_reconcile_removes_the_temp_files_of_interrupted_writes(tmp_path: Path) -> None:
    state = ServerState(tmp_path, deployment_id="d")
    stale = tmp_path / ".model.npy.1a2b3c4d.tmp"
    stale.write_bytes(b"half a model")
    assert state.reconcile(set()) is None
    assert not stale.exists()


def test_released_models_reads_the_audit_log_and_skips_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert released_models(logged_entries(path)) == set()
    with AuditLog(path, party="server") as audit:
        audit.append(ev.AGGREGATE_RELEASED, round=1, details={"model_sha256": "ab" * 32})
        audit.append(ev.ROUND_FINISHED, round=1, details={"participants": [], "dropouts": []})
    with open(path, "ab") as f:
        f.write(b'{"event":"aggregate_released","details":{"model_sha256":"cd')  # torn
    assert released_models(logged_entries(path)) == {"ab" * 32}


class _Crash(Exception):
    pass


def test_a_crash_after_the_audit_entry_keeps_the_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver audits aggregate_released (with the model's digest) before committing it."""
    driver = _driver(tmp_path)
    audit_path = tmp_path / "audit.jsonl"
    driver._audit = AuditLog(audit_path, party="server")

    def crash(self: Any) -> None:
        raise _Crash

    monkeypatch.setattr(ServerState, "commit_model", crash)

    async def main() -> None:
        from .test_driver import FakeLink

        for silo in SILOS:
            driver.connected(silo, FakeLink(driver, silo, answer))
        await driver.run()

    with pytest.raises(_Crash):
        asyncio.run(main())
    driver._audit.close()
    monkeypatch.undo()
    restarted = ServerState(tmp_path / "state", deployment_id="dep")
    assert restarted.completed == 0 and restarted.staged_model() is not None
    assert restarted.reconcile(released_models(logged_entries(audit_path))) == "committed"
    np.testing.assert_allclose(restarted.load_model(), np.full(4, 0.2), atol=1e-4)
