"""A reader that goes away (``fedseal audit show LOG | head``) ends the command quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fedseal.audit import AuditLog
from fedseal.secagg.identity import IdentityKey


def test_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, party="server", identity=IdentityKey.generate()) as log:
        for i in range(1500):  # far more output than a pipe buffers (64 KiB)
            log.append("dropout", round=i, details={"silo": "hospital-a", "reason": "x" * 40})
    command = [sys.executable, "-m", "fedseal.cli", "audit", "show", str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `head -1` does
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert status == 141
