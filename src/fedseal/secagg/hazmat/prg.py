"""Mask generation: AES-128-CTR keystream as a pseudo-random generator over Z_{2^32} or Z_{2^64}.

Bonawitz et al. (CCS 2017, §3) expand each shared seed with a PRG into a mask vector. We use the
AES-128-CTR keystream (a PRF in counter mode; NIST SP 800-38A §6.5) with an all-zero initial
counter block. Every key is used for exactly one keystream: keys are derived per round and per
pair (see :mod:`fedseal.secagg.hazmat.kdf`), so a counter block never repeats under one key.

:meth:`MaskExpander.apply` adds and subtracts the keystreams of many keys into one vector in a
single pass over it, a cache-sized chunk at a time: each chunk of the vector is loaded once and
every key's keystream for that chunk is written into a small buffer that stays in cache. There
is no allocation proportional to the vector length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

__all__ = ["MaskExpander", "keystream_uint32"]

_ZERO_COUNTER = bytes(16)
# cryptography's update_into needs an output buffer block_size - 1 bytes longer than the input.
_SLACK = 15
_CHUNK_BYTES = 1 << 18  # 256 KiB: the chunk and its keystream buffer fit in a core's L2 cache


def _encryptor(key: bytes) -> CipherContext:
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
    out = np.zeros(n, dtype=np.uint32)
    MaskExpander(np.uint32).apply(out, add=[key])
    return out


class MaskExpander:
    """Adds PRG(key) vectors into, or subtracts them from, an accumulator, modulo 2^32 or 2^64.

    Parameters
    ----------
    dtype : numpy dtype, optional
        ``np.uint32`` (default, arithmetic mod 2^32) or ``np.uint64`` (mod 2^64).

    Notes
    -----
    Not thread-safe: each thread needs its own expander (the chunk buffer is shared). The words
    are read little-endian on every platform, so all parties expand a key identically.
    """

    def __init__(self, dtype: type[np.unsignedinteger[Any]] = np.uint32) -> None:
        if dtype not in (np.uint32, np.uint64):
            raise ValueError(f"dtype must be numpy.uint32 or numpy.uint64, got {dtype!r}")
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self._chunk = _CHUNK_BYTES // self.dtype.itemsize
        self._zeros = memoryview(bytes(_CHUNK_BYTES))
        self._buffer = bytearray(_CHUNK_BYTES + _SLACK)
        self._words: npt.NDArray[Any] = np.frombuffer(
            self._buffer, dtype=self.dtype, count=self._chunk
        )

    def apply(
        self,
        acc: npt.NDArray[Any],
        *,
        add: Sequence[bytes] = (),
        subtract: Sequence[bytes] = (),
    ) -> None:
        """``acc += sum(PRG(k) for k in add) - sum(PRG(k) for k in subtract)``, in place.

        Parameters
        ----------
        acc : ndarray
            One-dimensional, contiguous, of this expander's dtype.
        add, subtract : sequences of bytes
            16-byte keys.
        """
        if acc.dtype != self.dtype or acc.ndim != 1 or not acc.flags.c_contiguous:
            raise ValueError(f"accumulator must be a contiguous 1-D array of {self.dtype}")
        streams: list[tuple[CipherContext, np.ufunc]] = [(_encryptor(k), np.add) for k in add]
        streams += [(_encryptor(k), np.subtract) for k in subtract]
        if not streams:
            return
        itemsize = self.dtype.itemsize
        for start in range(0, acc.size, self._chunk):
            part = acc[start : start + self._chunk]
            words = self._words[: part.size]
            zeros = self._zeros[: part.size * itemsize]
            for encryptor, op in streams:
                encryptor.update_into(zeros, self._buffer)
                op(part, words, out=part)
