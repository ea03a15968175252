"""Issue 15: a silo that sends what its stage does not expect, too much, too often, or connects
in a loop is cut off at once (its stream closed, a dropout audited); the others finish."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from fedseal.audit import events as ev
from fedseal.client.agent import SiloAgent
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.wire.framing import split_frames
from fedseal.protocol.wire.serde import encode_to_server

from .conftest import ServerThread, SiloThread, make_deployment
from .hostile import audit_entries, frames_of, hostile_stream


def _abstain(req: c.TrainRequest, name: str, reason: str) -> c.Abstain:
    return c.Abstain(req.deployment_id, req.round_id, name, reason)


def _ready(req: c.TrainRequest, name: str) -> c.TrainReady:
    return c.TrainReady(req.deployment_id, req.round_id, name)


def _oversized_first_frame(req: c.TrainRequest, name: str) -> list[bytes]:
    # 200 KB of "reason" in 64 KiB frames; only frame 0 is sent: its declared total is enough.
    payload = encode_to_server(_abstain(req, name, "x" * 200_000))
    return split_frames(payload, message_id=2, chunk_size=64 << 10)[:1]


def _masked_input(req: c.TrainRequest, name: str) -> list[bytes]:
    import numpy as np

    vector = np.zeros(16, dtype=np.uint32)
    return frames_of(m.MaskedInput(req.deployment_id, req.round_id, name, vector), message_id=2)


def _twice(req: c.TrainRequest, name: str) -> list[bytes]:
    return [f for i in (2, 3) for f in frames_of(_ready(req, name), message_id=i)]


def _flood(req: c.TrainRequest, name: str) -> list[bytes]:
    return [f for i in range(5000) for f in frames_of(_ready(req, name), message_id=2 + i)]


@pytest.mark.parametrize(
    ("answer", "code", "why"),
    [
        (_oversized_first_frame, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit of 8192 bytes"),
        (_masked_input, grpc.StatusCode.INVALID_ARGUMENT, "unexpected MaskedInput"),
        (_twice, grpc.StatusCode.INVALID_ARGUMENT, "unexpected TrainReady"),
        (_flood, grpc.StatusCode.INVALID_ARGUMENT, "unexpected TrainReady"),
    ],
    ids=["oversized", "wrong-type", "replay", "flood-5000"],
)
def test_a_bad_answer_closes_the_stream_and_is_an_audited_dropout(
    tmp_path: Path, names: list[str], answer: Any, code: grpc.StatusCode, why: str
) -> None:
    dep = make_deployment(tmp_path, names)  # 4 silos: t = 3 leaves room for one dropout
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:3]]
    bad = names[3]

    def respond(message: c.ToSilo) -> list[bytes] | None:
        if isinstance(message, c.TrainRequest):
            return answer(message, bad)
        return []

    status, details = hostile_stream(dep, bad, respond)
    assert status == code and why in details
    server.join()
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    assert summary.survivors == tuple(names[:3])
    assert [d["silo"] for d in summary.dropouts] == [bad]
    assert why in summary.dropouts[0]["reason"]
    assert summary.seconds < 10.0  # cut off at once, not after stage_timeout_s
    dropouts = audit_entries(dep, ev.DROPOUT)
    assert [e["details"]["silo"] for e in dropouts] == [bad]
    for s in honest:
        s.join()


def test_a_flood_during_unmasking_ends_the_stream(tmp_path: Path, names: list[str]) -> None:
    dep = make_deployment(tmp_path, names)

    class Flooding(SiloAgent):
        def handle(self, message: Any) -> Any:
            if isinstance(message, m.UnmaskRequest):
                ready = c.TrainReady(message.deployment_id, message.round_id, self.silo)
                return [ready] * 5000, False
            return super().handle(message)

    server = ServerThread(dep).start()
    silos = [
        SiloThread(dep, n, agent_type=Flooding if n == names[3] else SiloAgent).start()
        for n in names
    ]
    server.join()
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    assert summary.survivors == tuple(names)  # its masked input is in the sum
    (dropout,) = summary.dropouts
    assert dropout["silo"] == names[3] and dropout["stage"] == "unmask"
    assert "unexpected TrainReady" in dropout["reason"]
    assert summary.seconds < 10.0  # stage_timeout_s is 10: not waited for
    assert [e["details"]["silo"] for e in audit_entries(dep, ev.DROPOUT)] == [names[3]]
    for s in silos:
        s.join()


def test_connection_churn_is_refused_before_any_audit_entry(
    tmp_path: Path, names: list[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    dep = make_deployment(tmp_path, names[:3], server={"connect_burst": 3, "connect_refill_s": 2.0})
    server = ServerThread(dep).start()
    churner = names[2]
    codes = []
    with caplog.at_level(logging.WARNING, logger="fedseal.server"):
        started = time.monotonic()
        for _ in range(30):  # connect, say Hello, hang up
            codes.append(hostile_stream(dep, churner, None, timeout_s=5.0)[0])
        churn_s = time.monotonic() - started
    refused = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    admitted = 3 + int(churn_s / 2.0) + 1  # the burst, then one per refill (one of slack)
    assert refused >= 30 - admitted, codes
    reports = [r for r in caplog.records if "connection(s) of " + churner in r.getMessage()]
    assert len(reports) == 1  # one summary line per window, not one per attempt
    silos = [SiloThread(dep, n).start() for n in names[:3]]  # the churner's retry gets in
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.survivors == tuple(names[:3])
    entries = [e for e in audit_entries(dep, ev.PARTY_AUTHENTICATED)
               if e["details"].get("peer") == churner]  # fmt: skip
    logins = [e for e in entries if e["outcome"] == ev.SUCCESS]
    summaries = [e for e in entries if e["outcome"] == ev.REFUSED]
    assert len(logins) <= admitted + 1
    assert (
        len(summaries) == 1 and "connection(s) of " + churner in summaries[0]["details"]["reason"]
    )
    for s in silos:
        s.join()


def test_a_silo_that_stalls_inside_a_large_message_is_cut_off(
    tmp_path: Path, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It would hold part of the server's reassembly budget, so others' inputs would wait."""
    from fedseal.server import grpc_server

    monkeypatch.setattr(grpc_server, "_LARGE_BYTES", 0)  # every message counts as large here
    monkeypatch.setattr(grpc_server, "STALL_S", 1.0)
    dep = make_deployment(tmp_path, names)
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:3]]
    bad = names[3]

    def respond(message: c.ToSilo) -> list[bytes] | None:
        if isinstance(message, c.TrainRequest):  # frame 0 of 2, then silence
            payload = encode_to_server(_abstain(message, bad, "x" * 6000))
            return split_frames(payload, message_id=2, chunk_size=4096)[:1]
        return []

    status, details = hostile_stream(dep, bad, respond)
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "stalled" in details
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.survivors == tuple(names[:3])
    assert [d["silo"] for d in summary.dropouts] == [bad]
    for s in honest:
        s.join()
