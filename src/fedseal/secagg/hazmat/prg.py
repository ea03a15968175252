"""Mask generation: AES-128-CTR keystream as a pseudo-random generator over Z_{2^32} or Z_{2^64}.

Bonawitz et al. (CCS 2017, §3) expand each shared seed with a PRG into a mask vector. We use the
AES-128-CTR keystream (a PRF in counter mode; NIST SP 800-38A §6.5) with an all-zero initial
counter block: block ``j`` of the keystream is ``AES_k(j)``, ``j`` as a 128-bit big-endian
integer. Every key is used for exactly one keystream: keys are derived per round and per pair
(see :mod:`fedseal.secagg.hazmat.kdf`), so a counter block never repeats under one key.

:meth:`MaskExpander.apply` adds and subtracts the keystreams of many keys into one vector in a
single pass over it, a cache-sized chunk at a time: every key's keystream for the chunk is
produced into one small buffer and added into (or subtracted from) the chunk while both are
still in the core's cache. There is no allocation proportional to the vector length, and the
keystream of a key does not depend on the chunking.

How the keystream is computed (the bytes are exactly ``modes.CTR(bytes(16))``'s; tests check
it): blocks 0 and 1 are the forward cipher applied to the counter blocks 0 and 1; blocks 2
onward are the ciphertext of zeros under AES-128-GCM with the all-zero 96-bit IV. GCM's
counter mode (SP 800-38D §6.5, §7.1) starts at ``J0 = IV || 0^31 || 1`` and encrypts from
``inc32(J0)``, so with ``IV = 0^96`` its keystream block ``i`` is ``AES_k(0^96 || i + 2)``,
which is our block ``i + 2`` as long as the 32-bit counter does not wrap (vectors up to
2^36 - 64 bytes, about 64 GiB; longer ones are refused). GCM is used only as a faster CTR
(OpenSSL has a VAES/AVX-512 path for it, about 1.6x the AES-NI ECB or CTR speed on our
reference machine); its tag is never computed or used, and no data is encrypted with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["MAX_KEYSTREAM_BYTES", "MaskExpander", "keystream_uint32"]

_BLOCK = 16
# cryptography's update_into needs an output buffer block_size - 1 bytes longer than the input.
_SLACK = _BLOCK - 1
# 256 KiB: the chunk of the vector and one keystream stay in L2/L3. Measured on the reference
# machine, 64 KiB..512 KiB are within a few per cent of each other.
_CHUNK_BYTES = 1 << 18
# Keystream blocks 0 and 1 come from the block cipher; GCM's keystream starts at block 2.
_HEAD = 2 * _BLOCK
_HEAD_COUNTERS = bytes(_BLOCK) + (1).to_bytes(_BLOCK, "big")
# GCM's 32-bit counter runs from 2 to 2^32 - 1: that many blocks, counting the two of the head.
MAX_KEYSTREAM_BYTES = (1 << 32) * _BLOCK - _HEAD


def _check_key(key: bytes) -> None:
    if len(key) != 16:
        raise ValueError(f"PRG key must be 16 bytes, got {len(key)}")


class _Stream:
    """One key's keystream, produced in order into a caller's buffer."""

    __slots__ = ("_gcm", "_head")

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        # ECB over the distinct counter blocks 0 and 1 is CTR mode (SP 800-38A §6.5).
        ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
        self._head = ecb.update(_HEAD_COUNTERS)
        self._gcm = Cipher(algorithms.AES(key), modes.GCM(bytes(12))).encryptor()

    def fill(self, out: memoryview, zeros: memoryview, nbytes: int, first: bool) -> None:
        """Write the next ``nbytes`` keystream bytes to ``out`` (``first``: from byte 0)."""
        if first:
            head = min(nbytes, _HEAD)
            out[:head] = self._head[:head]
            if nbytes > _HEAD:
                self._gcm.update_into(zeros[: nbytes - _HEAD], out[_HEAD:])
        else:
            self._gcm.update_into(zeros[:nbytes], out)


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
        self._zeros = memoryview(bytes(_CHUNK_BYTES))

    def apply(
        self,
        acc: npt.NDArray[Any],
        *,
        add: Sequence[bytes] = (),
        subtract: Sequence[bytes] = (),
        source: npt.NDArray[Any] | None = None,
    ) -> None:
        """``acc = source + sum(PRG(k) for k in add) - sum(PRG(k) for k in subtract)``.

        Parameters
        ----------
        acc : ndarray
            One-dimensional, contiguous, of this expander's dtype, at most
            ``MAX_KEYSTREAM_BYTES`` long. Overwritten with the result.
        add, subtract : sequences of bytes
            16-byte keys.
        source : ndarray, optional
            The vector the masks are applied to, of ``acc``'s dtype and shape; it is only read.
            Default ``acc`` itself (in place). Reading ``source`` in the same pass that writes
            ``acc`` spares a separate copy. It must not overlap ``acc`` unless it is ``acc``.
        """
        if acc.dtype != self.dtype or acc.ndim != 1 or not acc.flags.c_contiguous:
            raise ValueError(f"accumulator must be a contiguous 1-D array of {self.dtype}")
        if acc.nbytes > MAX_KEYSTREAM_BYTES:
            raise ValueError(f"a mask vector is at most {MAX_KEYSTREAM_BYTES} bytes")
        if source is None or source is acc:
            source = acc
        elif source.dtype != self.dtype or source.shape != acc.shape:
            raise ValueError(f"source must be a 1-D array of {self.dtype} shaped like acc")
        elif np.may_share_memory(source, acc):
            raise ValueError("source must be acc itself or not overlap it")
        streams = [(_Stream(k), np.add) for k in add] + [
            (_Stream(k), np.subtract) for k in subtract
        ]
        if not streams:
            if source is not acc:
                np.copyto(acc, source)
            return
        out = memoryview(self._buffer)
        for start in range(0, acc.size, self._chunk):
            part = acc[start : start + self._chunk]
            words = self._words[: part.size]
            src = source[start : start + self._chunk]
            for stream, op in streams:
                stream.fill(out, self._zeros, part.nbytes, first=start == 0)
                op(src, words, out=part)
                src = part
