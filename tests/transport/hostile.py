"""A hostile silo at the wire: its real certificate and ``Hello``, then whatever frames a test
chooses in answer to each server message; and the server wiring of the new transport settings.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from fedseal.client.run import make_client
from fedseal.protocol import control as c
from fedseal.protocol.wire.channel import METHOD, TransportLimits, channel_options
from fedseal.protocol.wire.framing import Reassembler, split_frames
from fedseal.protocol.wire.serde import decode_to_silo, encode_to_server

from .conftest import Deployment

#: What a hostile silo sends in answer to one server message: frames, or None to hang up.
Respond = Callable[[c.ToSilo], list[bytes] | None]


def frames_of(message: Any, *, message_id: int, chunk: int = 1 << 20) -> list[bytes]:
    return split_frames(encode_to_server(message), message_id=message_id, chunk_size=chunk)


def hostile_stream(
    dep: Deployment, name: str, respond: Respond | None, *, timeout_s: float = 60.0
) -> tuple[grpc.StatusCode, str]:
    """Connect as ``name``, send its ``Hello``, then ``respond`` to each server message (None:
    hang up right after the ``Hello``).

    Returns the status and details the server ended the stream with (OK if it just ended).
    """
    cfg = dep.silos[name]
    hello = make_client(cfg, dep.apps[name], audit=None).agent.hello()
    outbox: queue.Queue[bytes | None] = queue.Queue()
    for frame in frames_of(hello, message_id=1):
        outbox.put(frame)
    if respond is None:
        outbox.put(None)

    def frames() -> Iterator[bytes]:
        while (frame := outbox.get(timeout=timeout_s)) is not None:
            yield frame

    ca, cert, key = cfg.tls.read()
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    options = [*channel_options(TransportLimits()), ("grpc.ssl_target_name_override", "localhost")]
    reassembler = Reassembler(max_message_bytes=64 << 20)
    with grpc.secure_channel(cfg.server_address, creds, options) as channel:
        call = channel.stream_stream(METHOD)(frames(), timeout=timeout_s)
        try:
            for frame in call:
                payload = reassembler.add(frame)
                if payload is None:
                    continue
                answer = None if respond is None else respond(decode_to_silo(payload))
                for part in [None] if answer is None else answer:
                    outbox.put(part)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
        finally:
            outbox.put(None)
    return grpc.StatusCode.OK, ""


def audit_entries(dep: Deployment, event: str) -> list[dict[str, Any]]:
    lines = dep.server.audit_log.read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]
