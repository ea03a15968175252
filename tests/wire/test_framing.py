"""framing: split/reassemble round trips; any deviation from in-order frames is a violation."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol.wire._pb.fedseal.v1.fedseal_pb2 import Frame
from fedseal.protocol.wire.framing import Reassembler, encode_frame, split_frames

CHUNK = 7


def _feed(reassembler: Reassembler, frames: list[bytes]) -> bytes:
    *head, last = frames
    assert all(reassembler.add(frame) is None for frame in head)
    payload = reassembler.add(last)
    assert payload is not None
    return payload


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, 50])
def test_round_trip_around_chunk_boundaries(size: int) -> None:
    payload = bytes(range(size))
    frames = split_frames(payload, message_id=3, chunk_size=CHUNK)
    assert len(frames) == max(1, -(-size // CHUNK))
    assert _feed(Reassembler(max_message_bytes=size), frames) == payload


def test_empty_payload_is_one_empty_frame() -> None:
    frames = split_frames(b"", message_id=0, chunk_size=CHUNK)
    assert frames == [encode_frame(0, 0, 1, b"")]
    assert Reassembler(max_message_bytes=0).add(frames[0]) == b""


@settings(max_examples=50, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=60), min_size=1, max_size=4),
    chunk_size=st.integers(1, 20),
)
def test_consecutive_messages_on_one_stream(payloads: list[bytes], chunk_size: int) -> None:
    reassembler = Reassembler(max_message_bytes=60)
    for message_id, payload in enumerate(payloads):
        frames = split_frames(payload, message_id=message_id, chunk_size=chunk_size)
        assert _feed(reassembler, frames) == payload


def test_message_of_exactly_the_limit_is_accepted_even_if_chunks_do_not_divide_it() -> None:
    # 10 bytes in chunks of 7: total * len(first chunk) = 14 > 10, yet the message fits.
    frames = split_frames(bytes(10), message_id=1, chunk_size=7)
    assert _feed(Reassembler(max_message_bytes=10), frames) == bytes(10)


def _violates(frames: list[bytes], max_message_bytes: int = 100, match: str = "") -> None:
    reassembler = Reassembler(max_message_bytes=max_message_bytes)
    *head, last = frames
    for frame in head:
        reassembler.add(frame)
    with pytest.raises(ProtocolViolation, match=match):
        reassembler.add(last)


def test_out_of_order_duplicate_or_missing_frames() -> None:
    f = split_frames(bytes(30), message_id=5, chunk_size=10)
    _violates([f[1]], match="start at frame 0")
    _violates([f[0], f[2]], match="expected frame 1")
    _violates([f[0], f[1], f[1]], match="expected frame 2")
    _violates([f[0], f[0]], match="expected frame 1")  # a new message before the last ended


def test_wrong_message_id_or_total_mid_message() -> None:
    first = encode_frame(5, 0, 3, bytes(10))
    _violates([first, encode_frame(6, 1, 3, bytes(10))], match="of message 5")
    _violates([first, encode_frame(5, 1, 4, bytes(10))], match="expected frame 1/3")


def _raw_frame(index: int, total: int) -> bytes:
    return bytes(Frame(message_id=1, index=index, total=total, data=b"x").SerializeToString())


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (_raw_frame(0, 0), "index 0 of total 0"),
        (_raw_frame(2, 2), "index 2 of total 2"),
        (b"\xff\xff", "not a valid protobuf"),
        (b"\x22\x05ab", "not a valid protobuf"),  # data field cut short
    ],
)
def test_malformed_frames(frame: bytes, match: str) -> None:
    _violates([frame], match=match)


def test_oversize_is_refused_before_the_chunk_is_kept() -> None:
    frames = split_frames(bytes(25), message_id=1, chunk_size=10)
    _violates(frames, max_message_bytes=24, match="exceeds max_message_bytes=24")
    _violates([encode_frame(1, 0, 1, bytes(11))], max_message_bytes=10, match="max_message_bytes")


def test_oversize_is_refused_at_the_first_frame_when_total_announces_it() -> None:
    # 1000 frames of 10 bytes cannot fit in 100 bytes: refused before 999 more frames arrive.
    _violates([encode_frame(1, 0, 1000, bytes(10))], match="exceed max_message_bytes=100")


def test_a_violation_breaks_the_reassembler_for_good() -> None:
    reassembler = Reassembler(max_message_bytes=100)
    with pytest.raises(ProtocolViolation):
        reassembler.add(encode_frame(1, 1, 2, b"x"))
    with pytest.raises(ProtocolViolation, match="already"):
        reassembler.add(encode_frame(2, 0, 1, b"y"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=5))
def test_random_frames_raise_only_protocol_violation(frames: list[bytes]) -> None:
    reassembler = Reassembler(max_message_bytes=64)
    with contextlib.suppress(ProtocolViolation):
        for frame in frames:
            result = reassembler.add(frame)
            assert result is None or isinstance(result, bytes)


class _Huge(bytes):
    def __len__(self) -> int:
        return 2**32  # one byte per frame would need more frames than a uint32 can count


def test_misuse_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        split_frames(b"abc", message_id=1, chunk_size=0)
    with pytest.raises(ConfigError, match="message_id"):
        split_frames(b"abc", message_id=-1, chunk_size=2)
    with pytest.raises(ConfigError, match="frames"):
        split_frames(_Huge(), message_id=1, chunk_size=1)
    with pytest.raises(ConfigError, match="index"):
        encode_frame(1, 2, 2, b"")
    with pytest.raises(ConfigError, match="total"):
        encode_frame(1, 0, 0, b"")
    with pytest.raises(ConfigError, match="max_message_bytes"):
        Reassembler(max_message_bytes=-1)
