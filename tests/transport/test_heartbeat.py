"""Issue 15: a silo process that stops answering (SIGSTOP) is found by the heartbeat within about
``2 * heartbeat_s``, so the round goes on without it instead of waiting ``train_timeout_s``."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from fedseal.simulation.processes import spawn_silo

from .conftest import DIM, ServerThread, SiloThread, make_deployment

HEARTBEAT_S = 1.0


def _wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout_s: float) -> float:
    """Seconds until a record containing ``text`` was logged (fails after ``timeout_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if any(text in r.getMessage() for r in caplog.records):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r} within {timeout_s} s")


@pytest.mark.slow
def test_a_stopped_silo_process_is_a_dropout_within_two_heartbeats(
    tmp_path: Path, names: list[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    slow = {"train_timeout_s": 60.0, "stage_timeout_s": 60.0, "connect_timeout_s": 60.0}
    dep = make_deployment(tmp_path, names, server={"heartbeat_s": HEARTBEAT_S, **slow})
    stopped = names[3]
    (dep.root / "logs").mkdir()
    env = {**os.environ, "FEDSEAL_BENCH_DIM": str(DIM)}
    with caplog.at_level(logging.INFO, logger="fedseal.server"):
        server = ServerThread(dep).start()
        silo = spawn_silo(stopped, dep.root, env, app="fedseal.bench.grpc_app:make_app")
        try:
            _wait_for_log(caplog, f"silo {stopped} connected", 60.0)
            silo.process.send_signal(signal.SIGSTOP)  # its kernel still ACKs TCP; it cannot
            honest = [SiloThread(dep, n).start() for n in names[:3]]
            found_s = _wait_for_log(caplog, f"silo {stopped} disconnected", 30.0)
            server.join()
        finally:
            silo.process.send_signal(signal.SIGCONT)
            silo.process.kill()
            silo.process.wait(30)
            silo.log.close()
    print(f"stopped silo found after {found_s:.2f} s")
    assert found_s <= 2 * HEARTBEAT_S + 2.0, found_s  # two heartbeats, and slack for 2 cores
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    assert stopped not in summary.survivors
    assert summary.seconds < 20.0  # not train_timeout_s (60 s)
    for s in honest:
        s.join()
