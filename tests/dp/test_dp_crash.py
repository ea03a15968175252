"""kill -9 of a real silo process between rounds and mid-round: the ledger stays consistent,
every round that began counts, and ε never goes down."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedseal.dp import LEDGER_FILENAME, DPConfig, PrivacyLedger
from fedseal.dp.accounting import spent_epsilon
from fedseal.dp.guard import reserve_round

WORKER = Path(__file__).with_name("dp_crash_worker.py")


def _run_until(state: Path, mode: str, stop_after: str) -> list[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(state), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 40
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith(stop_after):
                break
            assert time.monotonic() < deadline, lines
        if mode == "mid":
            time.sleep(0.2)  # inside the round: the begun row is committed, steps are running
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return lines


def _check(state: Path, done_eps: list[float]) -> float:
    path = state / LEDGER_FILENAME
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with PrivacyLedger.read(path) as ledger:
        rounds = ledger.rounds()
    eps = spent_epsilon(rounds, delta=1e-5, accountant="rdp")
    stored = [r.epsilon for r in rounds]
    assert stored == sorted(stored)
    assert eps == pytest.approx(stored[-1])
    assert eps >= max(done_eps)
    return eps


@pytest.mark.slow
def test_kill_between_rounds(tmp_path: Path) -> None:
    lines = _run_until(tmp_path, "between", "DONE 1")
    done = [float(line.split()[2]) for line in lines if line.startswith("DONE")]
    eps = _check(tmp_path, done)
    with PrivacyLedger.read(tmp_path / LEDGER_FILENAME) as ledger:
        assert [r.status for r in ledger.rounds()] == ["done", "done"]
    assert eps == pytest.approx(done[-1])


@pytest.mark.slow
def test_kill_mid_round_counts_the_round(tmp_path: Path) -> None:
    lines = _run_until(tmp_path, "mid", "BEGIN 1")
    done = [float(line.split()[2]) for line in lines if line.startswith("DONE")]
    assert len(done) == 1
    eps = _check(tmp_path, done)
    with PrivacyLedger.read(tmp_path / LEDGER_FILENAME) as ledger:
        assert [r.status for r in ledger.rounds()] == ["done", "begun"]
    assert eps > done[-1]  # the interrupted round is spent in full
    # After the restart, the next round starts from the conservative ε.
    config = DPConfig(epsilon_budget=1000.0, noise_multiplier=1.0)
    with PrivacyLedger.open(tmp_path, silo="crashy", config=config) as ledger:
        after = reserve_round(
            ledger,
            round_id=2,
            steps=10,
            sample_rate=32 / 569,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
        ).epsilon
    assert after > eps
    # Restarting the real worker continues from the ledger, never below.
    lines = _run_until(tmp_path, "between", "DONE 3")
    assert float(lines[-1].split()[2]) > after
