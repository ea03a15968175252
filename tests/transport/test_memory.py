"""What bounds the coordinator's memory when many silos upload at once, without a network.

The reassembly budget covers a large message until the driver takes it from its queue (not only
until it is decoded), frames are small whatever ``chunk_bytes`` asks, and a stream is read with
``context.read()`` so no frame stays referenced after the reassembler took its data.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import numpy as np

from fedseal.protocol import control as c
from fedseal.protocol.wire.channel import TransportLimits
from fedseal.protocol.wire.framing import MAX_FRAME_DATA, Reassembler, split_frames
from fedseal.protocol.wire.serde import encode_to_server
from fedseal.server.backpressure import ByteBudget
from fedseal.server.grpc_server import GrpcCoordinator
from fedseal.server.stream_link import StreamLink

DEP = "dep"


def _upload(value: int, dim: int = 50_000) -> bytes:
    vector = np.full(dim, value, dtype=np.uint32)
    return encode_to_server(c.PlaintextInput(DEP, 1, f"silo-{value}", vector))


def test_the_releaser_gives_its_bytes_back_once() -> None:
    budget = ByteBudget(10)

    async def scenario() -> None:
        assert await budget.take(6) == 6
        release = budget.releaser(6)
        release()
        release()  # a second call must not give the bytes back twice
        assert budget.free == 10

    asyncio.run(scenario())


def test_frames_are_small_whatever_chunk_bytes_asks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    frames = split_frames(payload, message_id=3, chunk_size=8 << 20)
    assert len(frames) == len(payload) // MAX_FRAME_DATA
    assert all(len(f) < MAX_FRAME_DATA + 64 for f in frames)
    reassembler = Reassembler(max_message_bytes=2 << 20)
    out = [reassembler.add(f) for f in frames]
    assert out[-1] == payload and out[:-1] == [None] * (len(frames) - 1)
    # The server's own frames (a broadcast written to every silo) are as small.
    link = StreamLink(TransportLimits(chunk_bytes=4 << 20))
    sent = list(link.frames(1, payload))
    assert len(sent) == len(frames) and all(len(f) < MAX_FRAME_DATA + 64 for f in sent)


class _Context:
    """A stream's server side that only offers ``read()`` (the reader must not iterate)."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = frames

    async def read(self) -> Any:
        await asyncio.sleep(0)
        return self._frames.pop(0) if self._frames else grpc.aio.EOF


def test_a_decoded_message_holds_the_budget_until_the_driver_takes_it() -> None:
    first, second = _upload(1), _upload(2)
    budget = ByteBudget(len(first))  # room for one upload at a time
    taken: list[tuple[str, Any, Any]] = []

    class Driver:
        def received(self, silo: str, message: Any, on_taken: Any = None) -> None:
            taken.append((silo, message, on_taken))

        def rejected(self, silo: str, reason: str) -> None:
            raise AssertionError(reason)

    coordinator = GrpcCoordinator.__new__(GrpcCoordinator)
    coordinator._budget = budget
    coordinator.driver = Driver()  # type: ignore[assignment]

    async def read(silo: str, payload: bytes) -> None:
        frames = split_frames(payload, message_id=1, chunk_size=1 << 20)
        assert len(frames) > 1
        link = StreamLink(TransportLimits())
        reassembler = Reassembler(max_message_bytes=64 << 20)
        await coordinator._read(silo, _Context(frames), link, reassembler)  # type: ignore[arg-type]

    async def scenario() -> None:
        readers = [asyncio.create_task(read("a", first)), asyncio.create_task(read("b", second))]
        for _ in range(50):
            await asyncio.sleep(0)
        # One upload is decoded and queued for the driver; the other waits for its share, since
        # the queued message still counts against the budget.
        assert len(taken) == 1 and budget.free == 0
        silo, message, on_taken = taken[0]
        assert isinstance(message, c.PlaintextInput) and on_taken is not None
        on_taken()  # the driver took it from its queue
        await asyncio.gather(*readers)
        assert [t[0] for t in taken] == [silo, "b" if silo == "a" else "a"]
        taken[1][2]()
        assert budget.free == budget.limit

    asyncio.run(scenario())
