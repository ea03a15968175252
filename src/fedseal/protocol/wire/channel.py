"""What both ends of the gRPC transport agree on: the method, frame limits and channel options.

Plain data (no grpc import): the coordinator (:mod:`fedseal.server.grpc_server`) and the silo
(:mod:`fedseal.client.grpc_client`) both build their channels from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedseal.errors import ConfigError

__all__ = ["METHOD", "SERVICE", "TransportLimits", "channel_options"]

SERVICE = "fedseal.v1.Coordinator"
METHOD = f"/{SERVICE}/Connect"
_FRAME_OVERHEAD = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class TransportLimits:
    """Chunk size of frames and the largest reassembled message, in bytes."""

    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if not 1024 <= self.chunk_bytes <= self.max_message_bytes:
            raise ConfigError("need 1024 <= chunk_bytes <= max_message_bytes")


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
