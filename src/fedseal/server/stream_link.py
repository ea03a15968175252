"""One silo's stream on the coordinator: its bounded outbox and the shared broadcast encoding.

:class:`StreamLink` is the :class:`~fedseal.server.events.Link` the transport
(:mod:`fedseal.server.grpc_server`) gives the driver for each connected silo;
:class:`SharedEncoder` encodes a message sent to many silos once; :func:`next_frame` reads the
silo's next frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
import grpc.aio

from fedseal.protocol import control as c
from fedseal.protocol.wire.channel import TransportLimits
from fedseal.protocol.wire.framing import MAX_FRAME_DATA, encode_frame
from fedseal.protocol.wire.serde import encode_to_silo
from fedseal.server.expectations import Expectations

__all__ = ["SharedEncoder", "StreamLink", "next_frame"]


class SharedEncoder:
    """Encodes each message once, however many silos it goes to (the round's broadcast).

    The driver hands the same ``TrainRequest`` (or ``CheckpointRequest``) object to every link;
    the payload is encoded for the first and shared by the others, so the server holds one copy
    of the model per round rather than one per silo.
    """

    def __init__(self) -> None:
        self._last: tuple[object, bytes] | None = None

    def __call__(self, message: c.ToSilo) -> bytes:
        if self._last is not None and self._last[0] is message:
            return self._last[1]
        payload = encode_to_silo(message)
        self._last = (message, payload)
        return payload


class StreamLink:
    """One silo's open stream: an outbox of encoded messages, cut into frames as written.

    Frames are made one at a time by the writer (:meth:`frames`), so a queued message costs
    its shared payload, not a copy per silo. The outbox is bounded in bytes
    (``2 * max_message_bytes``): a silo that stops reading its stream is cut off
    (``RESOURCE_EXHAUSTED``) and becomes a dropout, instead of making the server buffer every
    later message for it. Each request queued is granted to ``expect`` (the silo may answer
    it once, :mod:`fedseal.server.expectations`).
    """

    def __init__(
        self,
        limits: TransportLimits,
        encode: Callable[[c.ToSilo], bytes] = encode_to_silo,
        expect: Expectations | None = None,
    ) -> None:
        self._limits = limits
        self._encode = encode
        self.expect = expect
        self.outbox: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.status: tuple[grpc.StatusCode, str] | None = None
        self._next_id = 0
        self.bytes_down = 0
        self.bytes_up = 0
        self.queued = 0  # payload bytes in the outbox, not yet written to the stream
        self.max_queued = 2 * limits.max_message_bytes

    def send(self, message: c.ToSilo) -> None:
        if self.status is not None:
            return  # closed: nothing more is queued for this stream
        payload = self._encode(message)
        if self.queued + len(payload) > self.max_queued:
            self.status = (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the silo is not reading its stream ({self.queued} bytes waiting)",
            )
            self.outbox.put_nowait(None)
            return
        self._next_id += 1
        self.queued += len(payload)
        if self.expect is not None:
            self.expect.grant(message)
        self.outbox.put_nowait((self._next_id, payload))

    def frames(self, message_id: int, payload: bytes) -> Iterator[bytes]:
        """The frames of one queued message, made one by one (``split_frames`` lazily).

        Frames carry at most ``MAX_FRAME_DATA`` bytes (``chunk_bytes`` if smaller): while a
        broadcast is written, each stream holds about one frame in gRPC's send buffers, so
        the server holds the shared payload plus ``n`` small frames, not ``n`` of ``1 MiB``.
        """
        size = min(self._limits.chunk_bytes, MAX_FRAME_DATA)
        total = max(1, -(-len(payload) // size))
        for i in range(total):
            frame = encode_frame(message_id, i, total, payload[i * size : (i + 1) * size])
            self.bytes_down += len(frame)
            yield frame

    def close(self, reason: str) -> None:
        if self.status is None:
            self.status = (grpc.StatusCode.ABORTED, reason)
        self.outbox.put_nowait(None)


async def next_frame(context: grpc.aio.ServicerContext[Any, Any]) -> bytes | None:
    """The silo's next frame, or None once its side of the stream ended.

    ``context.read()`` rather than the request iterator: grpc's iterator is an async generator
    that keeps the message it last yielded until the next one arrives, so every stream paused
    by the reassembly budget held one more frame (up to ``chunk_bytes``) than it needed.
    """
    frame = await context.read()
    return None if frame is grpc.aio.EOF else cast(bytes, frame)
