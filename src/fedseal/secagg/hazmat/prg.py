"""Mask generation: AES-128-CTR keystream as a pseudo-random generator over Z_{2^32} or Z_{2^64}.

Bonawitz et al. (CCS 2017, §3) expand each shared seed with a PRG into a mask vector. We use the
AES-128-CTR keystream (a PRF in counter mode; NIST SP 800-38A §6.5) with an all-zero initial
counter block: block ``j`` of the keystream is ``AES_k(j)``, ``j`` as a 128-bit big-endian
integer. Every key is used for exactly one keystream: keys are derived per round and per pair
(see :mod:`fedseal.secagg.hazmat.kdf`), so a counter block never repeats under one key.

:meth:`MaskExpander.apply` adds and subtracts the keystreams of many keys into one vector in a
single pass over it, a cache-sized chunk at a time: the counter blocks of a chunk are written
once, every key's keystream for the chunk is produced into one small buffer and added into (or
subtracted from) the chunk while both are still in the core's cache. There is no allocation
proportional to the vector length, and the keystream of a key does not depend on the chunking.

The keystream is computed as SP 800-38A §6.5 defines CTR mode: the forward cipher (one AES-ECB
call) applied to the counter blocks. This yields exactly the bytes of ``modes.CTR(bytes(16))``
(a test checks it) and is about 10 % faster in OpenSSL, whose ECB path needs no per-block counter
arithmetic; the counter blocks are shared by all keys of a chunk. ECB here only ever encrypts
distinct counter blocks, which is what makes it CTR mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

__all__ = ["MaskExpander", "keystream_uint32"]

_BLOCK = 16
# cryptography's update_into needs an output buffer block_size - 1 bytes longer than the input.
_SLACK = _BLOCK - 1
# 256 KiB: the chunk of the vector, its counter blocks and one keystream stay in L2/L3. Measured
# on the reference machine, 64 KiB..512 KiB are within a few per cent of each other.
_CHUNK_BYTES = 1 << 18


def _block_cipher(key: bytes) -> CipherContext:
    """The AES-128 forward cipher under ``key``, applied block by block to the counters."""
    if len(key) != 16:
        raise ValueError(f"PRG key must be 16 bytes, got {len(key)}")
    # ECB over distinct counter blocks is CTR mode (SP 800-38A §6.5), not ECB encryption of data.
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305


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
    Not thread-safe: each thread needs its own expander (the chunk buffers are shared). The
    words are read little-endian on every platform, so all parties expand a key identically.
    """

    def __init__(self, dtype: type[np.unsignedinteger[Any]] = np.uint32) -> None:
        if dtype not in (np.uint32, np.uint64):
            raise ValueError(f"dtype must be numpy.uint32 or numpy.uint64, got {dtype!r}")
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self._chunk = _CHUNK_BYTES // self.dtype.itemsize  # words per chunk
        self._buffer = bytearray(_CHUNK_BYTES + _SLACK)
        self._words: npt.NDArray[Any] = np.frombuffer(
            self._buffer, dtype=self.dtype, count=self._chunk
        )
        # The counter blocks of one chunk, 128-bit big-endian; the high halves stay zero (a
        # vector would need 2^68 bytes to reach them).
        blocks = _CHUNK_BYTES // _BLOCK
        self._counters = bytearray(_CHUNK_BYTES)
        self._counter_low = np.frombuffer(self._counters, dtype=">u8").reshape(blocks, 2)[:, 1]
        self._block_offsets = np.arange(blocks, dtype=np.uint64)

    def apply(
        self,
        acc: npt.NDArray[Any],
        *,
        add: Sequence[bytes] = (),
        subtract: Sequence[bytes] = (),
        source: npt.NDArray[Any] | None = None,
        first_word: int = 0,
    ) -> None:
        """``acc = source + sum(PRG(k) for k in add) - sum(PRG(k) for k in subtract)``.

        Parameters
        ----------
        acc : ndarray
            One-dimensional, contiguous, of this expander's dtype. Overwritten with the result.
        add, subtract : sequences of bytes
            16-byte keys.
        source : ndarray, optional
            The vector the masks are applied to, of ``acc``'s dtype and shape; it is only read.
            Default ``acc`` itself (in place). Reading ``source`` in the same pass that writes
            ``acc`` spares a separate copy. It must not overlap ``acc`` unless it is ``acc``.
        first_word : int, optional
            The position in the keystreams of ``acc[0]`` (default 0): a slice of a longer
            vector starting at word ``w`` takes ``first_word=w``, so parts of one vector can
            be masked separately (on several threads, each with its own expander) and give
            exactly what one call on the whole vector gives. A multiple of the words per
            16-byte block (4 for uint32, 2 for uint64).
        """
        if acc.dtype != self.dtype or acc.ndim != 1 or not acc.flags.c_contiguous:
            raise ValueError(f"accumulator must be a contiguous 1-D array of {self.dtype}")
        itemsize = self.dtype.itemsize
        if first_word < 0 or first_word * itemsize % _BLOCK:
            raise ValueError(f"first_word must be >= 0 and start a 16-byte block, got {first_word}")
        if source is None or source is acc:
            source = acc
        elif source.dtype != self.dtype or source.shape != acc.shape:
            raise ValueError(f"source must be a 1-D array of {self.dtype} shaped like acc")
        elif np.may_share_memory(source, acc):
            raise ValueError("source must be acc itself or not overlap it")
        streams: list[tuple[CipherContext, np.ufunc]] = [(_block_cipher(k), np.add) for k in add]
        streams += [(_block_cipher(k), np.subtract) for k in subtract]
        if not streams:
            if source is not acc:
                np.copyto(acc, source)
            return
        for start in range(0, acc.size, self._chunk):
            part = acc[start : start + self._chunk]
            words = self._words[: part.size]
            n_blocks = -(-part.size * itemsize // _BLOCK)
            first_block = (first_word + start) * itemsize // _BLOCK  # chunks start on blocks
            np.add(self._block_offsets[:n_blocks], first_block, out=self._counter_low[:n_blocks])
            counters = memoryview(self._counters)[: n_blocks * _BLOCK]
            src = source[start : start + self._chunk]
            for cipher, op in streams:
                cipher.update_into(counters, self._buffer)
                op(src, words, out=part)
                src = part
