"""kill -9 of a writer process leaves a verifiable prefix holding every acknowledged entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedseal.audit import AuditLog, events, repair_log, verify_log

WRITER = """
import sys
from fedseal.audit import AuditLog, events
from fedseal.secagg.identity import IdentityKey
log = AuditLog(sys.argv[1], party="silo-1", identity=IdentityKey(bytes(32)))
i = 0
while True:
    if i % 50 == 49:
        log.checkpoint(round=i // 50)
    elif i % 7 == 0:
        with log.batch():
            for _ in range(5):
                log.append(events.SHARES_ROUTED, round=i // 50, details={"count": i})
    else:
        log.append(events.SHARES_ROUTED, round=i // 50, details={"count": i})
    print(log.size, flush=True)  # acknowledged: durable before this line is printed
    i += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.7])
def test_kill_9_leaves_a_verifiable_prefix(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the writer is running
    assert first.strip()
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    acknowledged = [int(x) for x in proc.stdout.read().split()] or [int(first)]
    proc.wait()

    report = verify_log(path)
    assert report.problem is None, report.summary()
    assert report.valid >= acknowledged[-1]
    if report.torn_bytes:
        assert repair_log(path) is not None
    with AuditLog(path, party="silo-1") as log:
        log.append(events.PARTY_STARTED)
    assert verify_log(path).ok


@pytest.mark.slow
def test_partial_write_is_torn_and_repairable(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, party="s") as log:
        for i in range(20):
            log.append(events.SHARES_ROUTED, details={"count": i})
    data = path.read_bytes()
    for cut in (1, 10, 40):  # as if the last write(2) had been cut short
        path.write_bytes(data[:-cut])
        report = verify_log(path)
        assert report.problem is None and report.valid == 19 and report.exit_status == 3
    assert repair_log(path) is not None and verify_log(path).ok
