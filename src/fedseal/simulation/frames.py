"""Frames between a simulation's driver and its workers: a JSON header and raw byte blobs.

Everything that crosses a process boundary in :mod:`fedseal.simulation.pool` and
:mod:`fedseal.simulation.ray_executor` is one frame::

    4-byte big-endian header length | UTF-8 JSON header | blob 0 | blob 1 | ...

The header holds plain values only (strings, numbers, lists, ``null``) and the blob sizes under
``"sizes"``; the blobs are protocol messages in their wire encoding
(:mod:`fedseal.protocol.wire`) or public keys. Nothing is pickled: a worker that decodes a frame
builds no object the frame's author chose, only dicts, lists and bytes. Large vectors never
travel in frames; they live in shared memory or in Ray's object store.

Examples
--------
>>> header, blobs = unpack(pack({"op": "step"}, [b"ab", b"c"]))
>>> header["op"], [bytes(b) for b in blobs]
('step', [b'ab', b'c'])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["BlobTable", "pack", "unpack"]

_LENGTH_BYTES = 4


def pack(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    """One frame: ``header`` (JSON-serialisable, without ``"sizes"``) and ``blobs``.

    Raises
    ------
    ValueError
        ``header`` already has a ``"sizes"`` key (the frame's own).
    """
    if "sizes" in header:
        raise ValueError("header must not have a 'sizes' key; pack() writes it")
    encoded = json.dumps({**header, "sizes": [len(b) for b in blobs]}).encode()
    return b"".join([len(encoded).to_bytes(_LENGTH_BYTES, "big"), encoded, *blobs])


def unpack(frame: bytes) -> tuple[dict[str, Any], list[memoryview]]:
    """The header and the blobs of ``frame`` (the blobs are views into ``frame``, not copies).

    Raises
    ------
    ValueError
        The frame is truncated, its sizes do not add up, or its header is not a JSON object.
    """
    view = memoryview(frame)
    length = int.from_bytes(view[:_LENGTH_BYTES], "big")
    end = _LENGTH_BYTES + length
    if len(view) < end:
        raise ValueError("truncated frame header")
    header = json.loads(bytes(view[_LENGTH_BYTES:end]))
    if not isinstance(header, dict) or not isinstance(header.get("sizes"), list):
        raise ValueError("frame header must be a JSON object with 'sizes'")
    sizes = [int(s) for s in header.pop("sizes")]
    if any(s < 0 for s in sizes) or end + sum(sizes) != len(view):
        raise ValueError("frame sizes do not match its length")
    blobs = []
    for size in sizes:
        blobs.append(view[end : end + size])
        end += size
    return header, blobs


class BlobTable:
    """Collects the blobs of a frame, encoding each distinct message object once.

    A broadcast (the same message object sent to many silos) is then one blob, referred to by
    index from every silo's entry of the header.

    Parameters
    ----------
    encode : callable
        Turns a message into its wire bytes.
    """

    def __init__(self, encode: Any) -> None:
        self._encode = encode
        self._index: dict[int, int] = {}
        self._keep: list[object] = []  # keeps id() values unique while the table lives
        self.blobs: list[bytes] = []

    def add(self, message: object) -> int:
        """The index of ``message``'s blob, encoding it on first sight."""
        key = id(message)
        if key not in self._index:
            self._index[key] = len(self.blobs)
            self._keep.append(message)
            self.blobs.append(self._encode(message))
        return self._index[key]
