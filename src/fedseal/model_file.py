"""Models as safetensors files: named arrays, a JSON header and raw bytes, never a pickle.

``fedseal model export --format torch`` writes the server's model in the safetensors format
(Hugging Face, https://huggingface.co/docs/safetensors): an 8-byte little-endian header length
``N``, ``N`` bytes of JSON (each array's ``dtype``, ``shape`` and ``data_offsets`` into the
byte buffer, plus a ``__metadata__`` map of strings), then the arrays' bytes, little-endian and
C-ordered, back to back. PyTorch users load it with ``safetensors.torch.load_file`` or with
:func:`fedseal.torch.load_file` (no extra package), then ``module.load_state_dict``. The format
was chosen over ``torch.save`` because that writes a pickle, which fedseal never produces.

:func:`read` checks a file as hostile input (a bounded header, known dtypes, offsets that tile
the buffer exactly) and only needs numpy.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError

__all__ = ["read", "write"]

_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_MAX_HEADER = 100 * 2**20  # as the reference implementation's limit


def write(
    path: Path, arrays: Mapping[str, npt.ArrayLike], *, dtype: str = "F32",
    metadata: Mapping[str, str] | None = None,
) -> None:  # fmt: skip
    """Write ``arrays`` (name -> array, in order) to ``path`` as safetensors.

    Parameters
    ----------
    path : Path
    arrays : mapping of str to array_like
    dtype : {"F32", "F64"}
        What the arrays are stored as (PyTorch parameters are float32).
    metadata : mapping of str to str, optional

    Raises
    ------
    ConfigError
        For an unknown dtype or a name used for metadata, or if the file cannot be written.
    """
    if dtype not in _DTYPES or "__metadata__" in arrays:
        raise ConfigError(f"cannot write dtype {dtype!r} or an array named __metadata__")
    header: dict[str, object] = {"__metadata__": dict(metadata or {})}
    blobs, offset = [], 0
    for name, value in arrays.items():
        data = np.ascontiguousarray(np.asarray(value, dtype=_DTYPES[dtype])).tobytes()
        shape = list(np.shape(value))
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the buffer starts 8-byte aligned
    try:
        with open(path, "wb") as out:
            out.write(struct.pack("<Q", len(text)) + text)
            for blob in blobs:
                out.write(blob)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def read(path: Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, str]]:
    """The arrays (name -> array, in file order) and metadata of a safetensors file.

    Raises
    ------
    ConfigError
        If the file cannot be read or is not a well-formed safetensors file of float arrays.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) < 8:
        raise ConfigError(f"{path} is not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(_MAX_HEADER, len(data) - 8):
        raise ConfigError(f"{path} is not a safetensors file (header length {size})")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError):
        raise ConfigError(f"{path} is not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ConfigError(f"{path} is not a safetensors file (header is not an object)")
    metadata = header.pop("__metadata__", {}) or {}
    buffer, arrays, end = memoryview(data)[8 + size :], {}, 0
    try:
        entries = sorted(header.items(), key=lambda item: item[1]["data_offsets"][0])
        for name, spec in entries:
            begin, stop = (int(x) for x in spec["data_offsets"])
            shape = tuple(int(d) for d in spec["shape"])
            dtype = _DTYPES[spec["dtype"]]
            if (
                begin != end
                or stop - begin != math.prod(shape) * dtype.itemsize
                or min(shape, default=0) < 0
            ):
                raise ValueError(name)
            arrays[name] = np.frombuffer(buffer[begin:stop], dtype=dtype).reshape(shape).copy()
            end = stop
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"{path}: array entry {str(exc)[:80]} is malformed or unsupported"
        ) from None
    good_metadata = isinstance(metadata, dict) and all(
        isinstance(v, str) for v in metadata.values()
    )
    if end != len(buffer) or not good_metadata:
        raise ConfigError(f"{path}: the arrays do not cover the file exactly, or bad metadata")
    order = list(header)
    return {name: arrays[name] for name in order}, dict(metadata)
