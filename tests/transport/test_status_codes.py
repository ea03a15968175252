"""gRPC status codes follow the class of the error, never the text of its message.

End to end (an oversized message from a silo ends its stream with RESOURCE_EXHAUSTED, a
malformed one with INVALID_ARGUMENT) is covered by
``test_bad_input.py::test_malformed_or_oversized_message_drops_that_silo_only``; this file
checks the pieces: the table, :func:`status_for`, and that the reassembler raises
:class:`MessageTooLarge` for every size rejection.
"""

from __future__ import annotations

import grpc
import pytest

from fedseal.errors import (
    AggregateIntegrityError,
    AuthenticationError,
    ConfigError,
    MessageTooLarge,
    ProtocolViolation,
)
from fedseal.protocol.wire.framing import Reassembler, encode_frame, split_frames
from fedseal.server.grpc_server import STATUS_CODES, status_for


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (MessageTooLarge("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (ProtocolViolation("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
    ],
    ids=["message-too-large", "protocol-violation", "no-hello-in-time"],
)
def test_each_table_row(exc: BaseException, code: grpc.StatusCode) -> None:
    assert status_for(exc) is code


def test_every_table_row_is_tested_and_subclasses_come_first() -> None:
    assert [cls for cls, _ in STATUS_CODES] == [MessageTooLarge, ProtocolViolation, TimeoutError]
    for i, (cls, _) in enumerate(STATUS_CODES):
        for later, _ in STATUS_CODES[i + 1 :]:
            assert not issubclass(later, cls), f"{later.__name__} is shadowed by {cls.__name__}"


@pytest.mark.parametrize("exc", [AuthenticationError(), AggregateIntegrityError("x")])
def test_a_subclass_not_in_the_table_takes_its_base_class_row(exc: ProtocolViolation) -> None:
    assert status_for(exc) is grpc.StatusCode.INVALID_ARGUMENT


def test_a_subclass_of_message_too_large_is_still_resource_exhausted() -> None:
    class Bigger(MessageTooLarge):
        pass

    assert status_for(Bigger("x")) is grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("exc", [ConfigError("x"), RuntimeError("x")])
def test_anything_else_is_internal(exc: BaseException) -> None:
    assert status_for(exc) is grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    "text",
    ["the message exceeds max_message_bytes=10", "frames exceed the limit", ""],
)
def test_the_message_text_does_not_matter(text: str) -> None:
    assert status_for(ProtocolViolation(text)) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_for(MessageTooLarge(text)) is grpc.StatusCode.RESOURCE_EXHAUSTED


def _last_error(frames: list[bytes], max_message_bytes: int) -> ProtocolViolation:
    reassembler = Reassembler(max_message_bytes=max_message_bytes)
    *head, last = frames
    for frame in head:
        assert reassembler.add(frame) is None
    with pytest.raises(ProtocolViolation) as info:
        reassembler.add(last)
    return info.value


@pytest.mark.parametrize(
    ("frames", "limit"),
    [
        (split_frames(bytes(25), message_id=1, chunk_size=10), 24),  # crosses it at frame 2
        ([encode_frame(1, 0, 1, bytes(11))], 10),  # one frame larger than the limit
        ([encode_frame(1, 0, 1000, bytes(10))], 100),  # frame 0 announces too much
    ],
    ids=["crosses-limit", "single-frame", "announced-total"],
)
def test_every_size_rejection_is_message_too_large(frames: list[bytes], limit: int) -> None:
    exc = _last_error(frames, limit)
    assert type(exc) is MessageTooLarge
    assert status_for(exc) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_other_violations_are_not_message_too_large() -> None:
    f = split_frames(bytes(30), message_id=5, chunk_size=10)
    for frames in ([f[1]], [f[0], f[2]], [b"\xff\xff"]):
        exc = _last_error(frames, 100)
        assert type(exc) is ProtocolViolation
        assert status_for(exc) is grpc.StatusCode.INVALID_ARGUMENT


def test_after_an_oversized_message_the_reassembler_stays_broken() -> None:
    reassembler = Reassembler(max_message_bytes=10)
    with pytest.raises(MessageTooLarge):
        reassembler.add(encode_frame(1, 0, 1, bytes(11)))
    with pytest.raises(ProtocolViolation, match="already"):
        reassembler.add(encode_frame(2, 0, 1, b"y"))


def test_a_silo_that_does_not_read_is_cut_off_not_buffered() -> None:
    """Issue 15: the server's per-silo outbox is bounded in bytes (2 * max_message_bytes)."""
    import numpy as np

    from fedseal.protocol import control as c
    from fedseal.protocol.wire.channel import TransportLimits
    from fedseal.secagg.quantize import QuantizationSpec
    from fedseal.server.grpc_server import _StreamLink

    limits = TransportLimits(chunk_bytes=64 * 1024, max_message_bytes=1 << 20)
    link = _StreamLink(limits)
    spec = QuantizationSpec(clip=1.0, max_silos=2)
    request = c.TrainRequest("dep", 1, np.zeros(50_000), "masking", spec)  # ~400 KB
    sent = 0
    while link.status is None and sent < 20:
        link.send(request)
        sent += 1
    assert link.status is not None and link.status[0] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "not reading its stream" in link.status[1]
    assert link.queued <= link.max_queued == 2 << 20
    assert 4 <= sent <= 6  # ~400 KB each: cut off once 2 MiB would be exceeded
    frames = link.outbox.qsize()
    link.send(request)  # closed: nothing more is queued
    assert link.outbox.qsize() == frames


def test_a_broadcast_is_encoded_once_and_framed_lazily() -> None:
    """Issue 15: the round's request is one payload shared by every silo's outbox (O(d))."""
    import numpy as np

    from fedseal.protocol import control as c
    from fedseal.protocol.wire.channel import TransportLimits
    from fedseal.protocol.wire.framing import Reassembler, split_frames
    from fedseal.protocol.wire.serde import decode_to_silo
    from fedseal.secagg.quantize import QuantizationSpec
    from fedseal.server.grpc_server import _SharedEncoder, _StreamLink

    limits = TransportLimits(chunk_bytes=4096, max_message_bytes=1 << 22)
    encode = _SharedEncoder()
    links = [_StreamLink(limits, encode) for _ in range(3)]
    request = c.TrainRequest(
        "dep", 1, np.arange(3000.0), "masking", QuantizationSpec(clip=1.0, max_silos=2)
    )
    for link in links:
        link.send(request)
    payloads = [link.outbox.get_nowait() for link in links]
    assert payloads[0] is not None and all(p is not None for p in payloads)
    assert payloads[1][1] is payloads[0][1] and payloads[2][1] is payloads[0][1]  # type: ignore[index]
    message_id, payload = payloads[0]  # type: ignore[misc]
    frames = list(links[0].frames(message_id, payload))
    assert frames == split_frames(payload, message_id=message_id, chunk_size=4096)
    assembler = Reassembler(max_message_bytes=1 << 22)
    out = [assembler.add(f) for f in frames][-1]
    assert out is not None and decode_to_silo(out) == request
