"""Mask generation: AES-128-CTR keystream as a pseudo-random generator over Z_{2^32} or Z_{2^64}.

Bonawitz et al. (CCS 2017, §3) expand each shared seed with a PRG into a mask vector. We use the
AES-128-CTR keystream (a PRF in counter mode; NIST SP 800-38A §6.5) with an all-zero initial
counter block, written straight into a preallocated buffer. Every key is used for exactly one
keystream: keys are derived per round and per pair (see :mod:`fedseal.secagg.hazmat.kdf`), so the
all-zero counter never repeats under one key.

``MaskExpander`` keeps one scratch buffer and one zero input per vector length, so expanding
and adding a mask of a million words costs one AES pass and one numpy add, with no allocation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["MaskExpander", "keystream_uint32"]

_ZERO_COUNTER = bytes(16)
# cryptography's update_into needs an output buffer at least block_size - 1 bytes longer.
_SLACK = 15


def _encryptor(key: bytes):  # type: ignore[no-untyped-def]
    if len(key) != 16:
        raise ValueError(f"PRG key must be 16 bytes, got {len(key)}")
    return Cipher(algorithms.AES(key), modes.CTR(_ZERO_COUNTER)).encryptor()


def keystream_uint32(key: bytes, n: int) -> npt.NDArray[np.uint32]:
    """Return the first ``n`` little-endian 32-bit words of the AES-128-CTR keystream of ``key``.

    Parameters
    ----------
    key : bytes
        16-byte key. Use each key for one vector only.
    n : int
        Number of words, ``n >= 0``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return np.array(MaskExpander(n).keystream(key), dtype=np.uint32)


class MaskExpander:
    """Expands 16-byte keys into mask vectors of one fixed length and adds them up.

    Parameters
    ----------
    length : int
        Number of words in every vector this expander handles.
    dtype : numpy dtype, optional
        ``np.uint32`` (default, arithmetic mod 2^32) or ``np.uint64`` (mod 2^64).

    Notes
    -----
    Not thread-safe: each thread needs its own expander (the scratch buffer is shared).
    """

    def __init__(self, length: int, dtype: type[np.unsignedinteger[Any]] = np.uint32) -> None:
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if dtype not in (np.uint32, np.uint64):
            raise ValueError(f"dtype must be numpy.uint32 or numpy.uint64, got {dtype!r}")
        self.length = length
        self.dtype = np.dtype(dtype).newbyteorder("<")
        nbytes = self.dtype.itemsize * length
        self._zeros = memoryview(bytes(nbytes))
        self._buffer = bytearray(nbytes + _SLACK)
        self._words: npt.NDArray[Any] = np.frombuffer(self._buffer, dtype=self.dtype, count=length)

    def keystream(self, key: bytes) -> npt.NDArray[Any]:
        """Return the keystream of ``key`` as a view of the scratch buffer (valid until next call)."""
        encryptor = _encryptor(key)
        encryptor.update_into(self._zeros, self._buffer)
        return self._words

    def add(self, key: bytes, acc: npt.NDArray[Any]) -> None:
        """``acc += PRG(key)`` modulo 2^32 (or 2^64), in place."""
        np.add(acc, self.keystream(key), out=acc)

    def subtract(self, key: bytes, acc: npt.NDArray[Any]) -> None:
        """``acc -= PRG(key)`` modulo 2^32 (or 2^64), in place."""
        np.subtract(acc, self.keystream(key), out=acc)
