"""Bad peers and bad days: foreign CA, revoked silo, malformed and oversized messages, a server
restart mid-round, a port in use (issue 3). The server keeps serving the honest silos."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from fedseal.client.agent import SiloAgent
from fedseal.errors import ConfigError
from fedseal.protocol import messages as m
from fedseal.protocol.wire.channel import METHOD, TransportLimits, channel_options
from fedseal.protocol.wire.framing import encode_frame

from .conftest import ServerThread, SiloThread, make_deployment


def test_certificate_from_another_ca_is_refused(
    tmp_path: Path, names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    dep = make_deployment(tmp_path / "ours", names[:3], server={"connect_timeout_s": 3.0})
    other = make_deployment(tmp_path / "theirs", names[:3])
    # A silo of the other deployment, same name, pointed at our server.
    forged = dataclasses.replace(
        other.silos[names[0]], server_address=dep.silos[names[0]].server_address
    )
    other.silos[names[0]] = forged
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[1:3]]
    with caplog.at_level(logging.WARNING, logger="fedseal.client"):
        intruder = SiloThread(other, names[0], give_up_after_s=1.0).start()
        intruder.join()
    assert intruder.status == 1  # never got through the TLS handshake
    assert any(
        "connection to" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records
    )
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.participants == tuple(names[1:3])
    for s in honest:
        s.join()


def test_revoked_silo_is_rejected_with_a_clear_error(tmp_path: Path, names: list[str]) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"revoked": [names[2]]})
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:2]]
    revoked = SiloThread(dep, names[2]).start()
    revoked.join()
    assert isinstance(revoked.error, ConfigError) and "refused this silo" in str(revoked.error)
    server.join()
    assert dep.summaries[0].completed and dep.summaries[0].participants == tuple(names[:2])
    for s in honest:
        s.join()


def _raw_stream(dep: Any, name: str, frames: list[bytes]) -> grpc.StatusCode:
    """Open ``name``'s stream with its real certificate, send ``frames``, return the status."""
    cfg = dep.silos[name]
    ca, cert, key = cfg.tls.read()
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    options = [*channel_options(TransportLimits()), ("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(cfg.server_address, creds, options) as channel:
        call = channel.stream_stream(METHOD)(iter(frames))
        try:
            for _ in call:
                pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"\xff\xfe not a frame"], grpc.StatusCode.INVALID_ARGUMENT),
        ([encode_frame(1, 0, 1, b"\x0a\x03abc")], grpc.StatusCode.INVALID_ARGUMENT),
        ([encode_frame(1, 0, 100_000, b"x" * 4096)], grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
    ids=["garbage", "bad-envelope", "oversized"],
)
def test_malformed_or_oversized_message_drops_that_silo_only(
    tmp_path: Path, names: list[str], frames: list[bytes], code: grpc.StatusCode
) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"connect_timeout_s": 3.0})
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:2]]
    time.sleep(0.5)  # let the honest silos in before the bad one
    assert _raw_stream(dep, names[2], frames) == code
    server.join()
    (summary,) = dep.summaries
    assert summary.completed
    assert names[2] not in summary.survivors
    for s in honest:
        s.join()


def test_message_from_another_round_is_a_dropout(tmp_path: Path, names: list[str]) -> None:
    dep = make_deployment(tmp_path, names)  # 4 silos: t = 3 leaves room for one dropout

    class Replaying(SiloAgent):
        def handle(self, message: Any) -> Any:
            replies, done = super().handle(message)
            if isinstance(message, m.BeginRound):
                replies = [dataclasses.replace(r, round_id=r.round_id + 7) for r in replies]
            return replies, done

    server = ServerThread(dep).start()
    silos = [
        SiloThread(dep, n, agent_type=Replaying if n == names[2] else SiloAgent).start()
        for n in names
    ]
    server.join()
    (summary,) = dep.summaries
    assert summary.completed
    assert [d["silo"] for d in summary.dropouts] == [names[2]]
    assert "another round" in summary.dropouts[0]["reason"]
    for s in silos:
        s.join()


def test_server_restart_mid_round_abandons_it_and_uses_fresh_round_ids(
    tmp_path: Path, names: list[str]
) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"rounds": 2})
    in_round = threading.Event()

    class Slow(SiloAgent):
        def handle(self, message: Any) -> Any:
            if isinstance(message, m.BeginRound) and message.params.round_id == 1:
                in_round.set()
                time.sleep(1.0)  # the server goes down while this round is open
            return super().handle(message)

    first = ServerThread(dep).start()
    silos = [SiloThread(dep, n, agent_type=Slow).start() for n in names[:3]]
    assert in_round.wait(30)
    first.stop()
    assert not first.thread.is_alive() and first.result is None
    second = ServerThread(dep).start()
    second.join()
    assert second.error is None
    done = [s for s in dep.summaries if s.completed]
    assert [s.round_id for s in done] == [2, 3]  # round 1 was abandoned, never reused
    for s in silos:
        s.join()
        assert s.status == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path, names: list[str]) -> None:
    dep = make_deployment(tmp_path, names[:2])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = dataclasses.replace(dep.server, listen=f"127.0.0.1:{port}")
        server = ServerThread(dep, config)
        server.thread.start()
        server.thread.join(30)
    assert isinstance(server.error, ConfigError)
    assert f"127.0.0.1:{port}" in str(server.error)


def test_a_second_process_with_one_silos_identity_is_refused_not_flapping(
    tmp_path: Path, names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13: two processes of one identity made the server flap; now the second is named."""
    # The third silo never comes: the server waits connect_timeout_s for it, streams open.
    dep = make_deployment(tmp_path, names[:3], server={"connect_timeout_s": 5.0})
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:2]]
    time.sleep(1.5)  # both honest streams are open
    with caplog.at_level("ERROR", logger="fedseal.server"):
        assert _raw_stream(dep, names[0], []) == grpc.StatusCode.ALREADY_EXISTS
    assert any("second process" in r.getMessage() and names[0] in r.getMessage()
               for r in caplog.records)  # fmt: skip
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.survivors == tuple(names[:2])  # the first one stayed
    for s in honest:
        s.join()
