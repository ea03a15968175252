"""Chunking an encoded envelope into ``Frame`` messages, and putting it back together (DESIGN §6).

A masked input of a million ``uint64`` values is 8 MB; gRPC messages are kept far smaller than
that, so the transport sends every encoded envelope as frames ``0 .. total-1`` of at most
``chunk_size`` bytes each, all carrying the same ``message_id`` and ``total``
(``proto/fedseal/v1/fedseal.proto``, message ``Frame``). An empty payload is one frame with
empty data.

A gRPC stream delivers frames in order, one message at a time per direction, so
:class:`Reassembler` accepts nothing else: frame 0 starts a message, every following frame has
the same ``message_id`` and ``total`` and the next ``index``. The size of the message being
rebuilt is checked against ``max_message_bytes`` *before* each chunk is kept, so a peer cannot
make the receiver hold more than that (an oversized message raises
:class:`~fedseal.errors.MessageTooLarge`). A receiver that knows what each kind of message may
weigh passes ``limit_for``: it sees the first chunk of every message (whose first bytes name the
envelope's message type, :func:`silo_envelope_kind`) and returns that message's own limit, so
a message is refused from its first frame, by its declared ``total``, before anything is kept.
Any deviation raises :class:`~fedseal.errors.ProtocolViolation` and leaves the reassembler
broken for good, like the stream it came from (compare h11's terminal ``ERROR`` state).
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from fedseal.errors import ConfigError, MessageTooLarge, ProtocolViolation
from fedseal.protocol.wire._pb.fedseal.v1.fedseal_pb2 import Frame, SiloEnvelope

__all__ = ["MAX_FRAME_DATA", "Reassembler", "encode_frame", "silo_envelope_kind", "split_frames"]

#: Most payload bytes one frame carries, whatever ``chunk_size`` asks. A receiver holds about
#: one frame per stream it has not caught up with (the frame it read last, and what gRPC lets
#: through to complete it), so when ``n`` silos upload at once the coordinator holds ``n``
#: frames: small frames keep that term small. Frames are cheap to add (one gRPC message each).
MAX_FRAME_DATA = 128 << 10

_MAX_UINT32 = 2**32 - 1
_MAX_UINT64 = 2**64 - 1
#: Field number of each ``SiloEnvelope`` member -> the name of its message (= the dataclass's).
_SILO_KINDS: dict[int, str] = {
    f.number: str(f.message_type.name) for f in SiloEnvelope.DESCRIPTOR.fields
}


def silo_envelope_kind(head: bytes) -> str:
    """The message type an encoded ``SiloEnvelope`` starts with, from its first bytes.

    Our encoder writes the envelope's single member first, so its tag (a varint: field number
    and wire type 2) names the message before the rest has arrived. A peer could append another
    member (protobuf keeps the last): the receiver checks the decoded type against this kind.

    Raises
    ------
    ProtocolViolation
        If ``head`` does not start with the tag of a known member.
    """
    tag, shift = 0, 0
    for byte in head[:5]:
        tag |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            kind = _SILO_KINDS.get(tag >> 3)
            if kind is None or tag & 7 != 2:
                raise ProtocolViolation(f"the message starts with an unknown field (tag {tag})")
            return kind
    raise ProtocolViolation("the first frame is too short to name its message")


def encode_frame(message_id: int, index: int, total: int, data: bytes) -> bytes:
    """Serialize one ``Frame``.

    Raises
    ------
    ConfigError
        If ``message_id`` is not a uint64, ``total`` not in ``1 .. 2^32-1`` or ``index`` not in
        ``0 .. total-1``.
    """
    if not 0 <= message_id <= _MAX_UINT64:
        raise ConfigError(f"message_id must be a uint64, got {message_id}")
    if not 1 <= total <= _MAX_UINT32:
        raise ConfigError(f"total must be in 1..{_MAX_UINT32}, got {total}")
    if not 0 <= index < total:
        raise ConfigError(f"index must be in 0..{total - 1}, got {index}")
    frame = Frame(message_id=message_id, index=index, total=total, data=data)
    return bytes(frame.SerializeToString())


def split_frames(payload: bytes, *, message_id: int, chunk_size: int) -> list[bytes]:
    """Cut ``payload`` into encoded frames of at most ``chunk_size`` data bytes each.

    Frames never carry more than :data:`MAX_FRAME_DATA` bytes, even if ``chunk_size`` is larger.

    Every frame but the last carries exactly ``chunk_size`` bytes (:class:`Reassembler` relies
    on this to refuse an oversized message early); an empty payload gives one empty frame.

    Raises
    ------
    ConfigError
        If ``chunk_size < 1``, ``message_id`` is not a uint64, or more than 2^32-1 frames would
        be needed.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = min(chunk_size, MAX_FRAME_DATA)
    total = max(1, -(-len(payload) // chunk_size))
    if total > _MAX_UINT32:
        raise ConfigError(f"{len(payload)} bytes need {total} frames; raise chunk_size")
    return [
        encode_frame(message_id, i, total, payload[i * chunk_size : (i + 1) * chunk_size])
        for i in range(total)
    ]


class Reassembler:
    """Rebuild the payloads of one direction of a stream from its frames, in order.

    Parameters
    ----------
    max_message_bytes : int
        Largest payload accepted; a message that would exceed it is refused before the chunk
        that would cross the limit is kept.
    limit_for : callable, optional
        ``limit_for(first_chunk)`` -> the largest size of the message starting with
        ``first_chunk`` (capped at ``max_message_bytes``); it may raise
        :class:`~fedseal.errors.ProtocolViolation` to refuse the message outright.

    Warnings
    --------
    After :meth:`add` has raised :class:`~fedseal.errors.ProtocolViolation` every later call
    raises it too: close the stream; do not try to resynchronise with a misbehaving peer.
    """

    def __init__(
        self, *, max_message_bytes: int, limit_for: Callable[[bytes], int] | None = None
    ) -> None:
        if max_message_bytes < 0:
            raise ConfigError(f"max_message_bytes must be >= 0, got {max_message_bytes}")
        self._ceiling = self._max = max_message_bytes
        self.last_size = 0  # bytes of the last message rebuilt
        self._limit_for = limit_for
        self._broken = False
        self._reset()

    def _reset(self) -> None:
        self._message_id: int | None = None  # None: waiting for frame 0 of a new message
        self._total = 0
        self._next = 0
        self._size = 0
        self._parts: list[bytes] = []
        #: Bytes the message being rebuilt declares at most (``total`` frames of the size of
        #: frame 0, capped at its limit); 0 between messages.
        self.declared = 0

    def _check_start(self, total: int, size: int) -> None:
        if size > self._max:
            raise MessageTooLarge(f"the message exceeds {self._limit_name()}")
        # Every frame but the last carries len(data) bytes, so at least
        # (total - 1) * len(data) + 1 bytes are coming: refuse now rather than at the end.
        if total > 1 and (total - 1) * size >= self._max:
            raise MessageTooLarge(f"{total} frames of {size} bytes exceed {self._limit_name()}")

    def _limit_name(self) -> str:
        if self._max == self._ceiling:
            return f"max_message_bytes={self._max}"
        return f"the limit of {self._max} bytes for this kind of message"

    def add(self, frame: bytes) -> bytes | None:
        """Take the next encoded frame of the stream.

        Returns
        -------
        bytes or None
            The whole payload once its last frame has arrived, otherwise ``None``.

        Raises
        ------
        MessageTooLarge
            If the frame would take the message past ``max_message_bytes``, or frame 0 announces
            more frames than can fit in it (a subclass of ``ProtocolViolation``).
        ProtocolViolation
            If the frame is unparsable, out of order or belongs to another message; also on
            every call after any error.
        """
        if self._broken:
            raise ProtocolViolation("the frame stream already violated the protocol")
        try:
            return self._add(frame)
        except ProtocolViolation:
            self._broken = True
            self._reset()
            raise

    def _add(self, raw: bytes) -> bytes | None:
        frame = Frame()
        try:
            frame.ParseFromString(raw)
        except DecodeError:
            raise ProtocolViolation("a frame is not a valid protobuf Frame") from None
        data = frame.data
        if frame.total < 1 or frame.index >= frame.total:
            raise ProtocolViolation(f"frame index {frame.index} of total {frame.total}")
        if self._message_id is None:
            if frame.index != 0:
                raise ProtocolViolation(f"a message must start at frame 0, got {frame.index}")
            self._check_start(frame.total, len(data))  # against max_message_bytes first
            if self._limit_for is not None:
                self._max = min(self._ceiling, self._limit_for(data))
                self._check_start(frame.total, len(data))  # then against its kind's limit
            self._message_id, self._total = frame.message_id, frame.total
            self.declared = min(self._max, frame.total * max(1, len(data)))
        elif self._size + len(data) > self._max:
            raise MessageTooLarge(f"the message exceeds {self._limit_name()}")
        elif (frame.message_id, frame.total, frame.index) != (
            self._message_id,
            self._total,
            self._next,
        ):
            raise ProtocolViolation(
                f"expected frame {self._next}/{self._total} of message {self._message_id}, got "
                f"frame {frame.index}/{frame.total} of message {frame.message_id}"
            )
        if data:  # empty chunks are not kept, so they cannot grow the list either
            self._parts.append(data)
            self._size += len(data)
        self._next += 1
        if self._next < self._total:
            return None
        payload = b"".join(self._parts)
        self._reset()
        self.last_size = len(payload)
        self._max = self._ceiling
        return payload
