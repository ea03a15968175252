"""What both ends of the gRPC transport agree on: the method, frame limits and channel options.

Plain data (no grpc import): the coordinator (:mod:`fedseal.server.grpc_server`) and the silo
(:mod:`fedseal.client.grpc_client`) both build their channels from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedseal.errors import ConfigError

__all__ = ["METHOD", "SERVICE", "TransportLimits", "channel_options", "server_channel_options"]

SERVICE = "fedseal.v1.Coordinator"
METHOD = f"/{SERVICE}/Connect"
_FRAME_OVERHEAD = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class TransportLimits:
    """Chunk size of frames and the largest reassembled message, in bytes; the heartbeat.

    ``heartbeat_s``: the server pings every silo's connection this often and closes one whose
    ping is not acknowledged within ``heartbeat_s`` more, so a stopped or unreachable silo is
    a dropout within about ``2 * heartbeat_s`` (HTTP/2 PING frames: gRPC keepalive; a silo's
    gRPC core acknowledges them on its own, so a silo busy training is not mistaken for dead).

    ``receive_window_bytes``: the coordinator's fixed HTTP/2 receive window per stream. One
    stream moves at most this much per round trip (256 KiB: about 5 MB/s at 50 ms); a larger
    window is faster on long links and holds more in gRPC's buffers per paused stream.
    """

    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 64 << 20
    heartbeat_s: float = 10.0
    receive_window_bytes: int = 256 << 10

    def __post_init__(self) -> None:
        if not 1024 <= self.chunk_bytes <= self.max_message_bytes:
            raise ConfigError("need 1024 <= chunk_bytes <= max_message_bytes")
        if not 0.1 <= self.heartbeat_s <= 3600:
            raise ConfigError(f"heartbeat_s must be in 0.1..3600, got {self.heartbeat_s}")
        if not 64 << 10 <= self.receive_window_bytes <= 64 << 20:
            raise ConfigError("receive_window_bytes must be in 64 KiB..64 MiB")


def channel_options(limits: TransportLimits) -> list[tuple[str, Any]]:
    """gRPC options shared by both ends: per-frame size limits and keepalive."""
    frame_limit = limits.chunk_bytes + _FRAME_OVERHEAD
    return [
        ("grpc.max_receive_message_length", frame_limit),
        ("grpc.max_send_message_length", frame_limit),
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def server_channel_options(limits: TransportLimits) -> list[tuple[str, Any]]:
    """The coordinator's options: :func:`channel_options` with its keepalive set to the heartbeat.

    The server pings each connection every ``heartbeat_s`` and gives up on it after
    ``heartbeat_s`` without an answer; it accepts the silos' own keepalive pings (every 20 s)
    without counting them as abuse.
    """
    heartbeat_ms = max(100, round(limits.heartbeat_s * 1000))
    keep = {"grpc.keepalive_time_ms", "grpc.keepalive_timeout_ms"}
    return [
        *(option for option in channel_options(limits) if option[0] not in keep),
        ("grpc.keepalive_time_ms", heartbeat_ms),
        ("grpc.keepalive_timeout_ms", heartbeat_ms),
        # gRPC >= 1.5x waits this long for *any* ping in flight before it sends the keepalive
        # ping; the default (60 s) would hide a stopped peer that long.
        ("grpc.http2.ping_timeout_ms", heartbeat_ms),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
        # A fixed receive window per stream instead of BDP probing, which grew it to several
        # MB: a stream paused by the reassembly budget (server/backpressure.py) then held that
        # much in gRPC's buffers, O(n) of it. 256 KiB per round trip: 5 MB/s a stream at 50 ms.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", limits.receive_window_bytes),
    ]
