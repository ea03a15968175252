"""Cryptographically secure Gaussian noise for DP-SGD, without ``torchcsprng``.

Opacus' ``secure_mode=True`` needs ``torchcsprng``, which does not install with the torch this
project uses. :class:`SecureRandom` gives the same property from the ``cryptography`` package:

* **Uniform bits** are the AES-128-CTR keystream (NIST SP 800-38A §6.5) under a 128-bit key from
  ``os.urandom``. Each key starts at counter zero and is replaced after 2**36 bytes, far below
  the 2**64-block birthday bound of AES-CTR as a PRF.
* **Uniforms** in [0, 1) keep the top 53 bits of each 64-bit word (every float64 of the form
  k·2**-53 is equally likely).
* **Normals** come from the Box–Muller transform in float64, using both outputs of each pair.
* **Floating-point attack mitigation.** Mironov (CCS 2012) showed that naive floating-point
  samplers leak through the low-order bits; Holohan & Braghin (arXiv:2107.10138, §5.1) fix a
  Gaussian by summing 2n draws. We match Opacus' secure path (``_generate_noise`` in
  ``opacus/optimizers/optimizer.py``): n = 2, i.e. four N(0, std²) draws summed and divided by 2,
  which again has standard deviation ``std``. We sum in float64 before the cast to the parameter
  dtype (Opacus sums in the parameter dtype).

One call to :meth:`SecureRandom.gaussian` makes one AES-CTR call for all the parameters of a
step, which keeps the CSPRNG cost small next to the per-example gradient computation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["SecureRandom"]

_REKEY_BYTES = 1 << 36
_TWO_POW_MINUS_53 = 2.0**-53
#: Number of Gaussian draws summed per output (2n with n = 2, as in Opacus' secure mode).
GAUSSIAN_DRAWS = 4


class SecureRandom:
    """A CSPRNG for DP noise and sampling decisions: AES-128-CTR keyed from ``os.urandom``.

    Parameters
    ----------
    key_source : callable, optional
        ``key_source(16) -> bytes`` supplies each 16-byte AES key. Defaults to ``os.urandom``;
        tests inject a deterministic source.

    Warnings
    --------
    Not thread-safe. A deterministic ``key_source`` makes every noise draw predictable and
    removes the privacy guarantee: use it in tests only. Instances refuse to be pickled so the
    key never leaves the process.
    """

    def __init__(self, key_source: Callable[[int], bytes] = os.urandom) -> None:
        self._key_source = key_source
        self._zeros = bytes(0)
        self._rekey()

    def _rekey(self) -> None:
        key = self._key_source(16)
        if len(key) != 16:
            raise ValueError(f"key_source must return 16 bytes, got {len(key)}")
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self._used = 0

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` keystream bytes."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if self._used + n > _REKEY_BYTES:
            self._rekey()
        if len(self._zeros) < n:
            self._zeros = bytes(max(n, 2 * len(self._zeros)))
        self._used += n
        return self._encryptor.update(memoryview(self._zeros)[:n])

    def uint64(self, n: int) -> npt.NDArray[np.uint64]:
        """Return ``n`` uniformly random 64-bit words."""
        return np.frombuffer(self.random_bytes(8 * n), dtype="<u8").astype(np.uint64, copy=False)

    def uniform(self, n: int) -> npt.NDArray[np.float64]:
        """Return ``n`` uniforms on [0, 1): multiples of 2**-53, each equally likely."""
        return (self.uint64(n) >> np.uint64(11)).astype(np.float64) * _TWO_POW_MINUS_53

    def standard_normal(self, n: int) -> npt.NDArray[np.float64]:
        """Return ``n`` independent N(0, 1) draws (Box–Muller in float64)."""
        pairs = (n + 1) // 2
        words = self.uint64(2 * pairs) >> np.uint64(11)
        # u1 in (0, 1] so log(u1) is finite; u2 in [0, 1).
        u1 = (words[:pairs].astype(np.float64) + 1.0) * _TWO_POW_MINUS_53
        theta = words[pairs:].astype(np.float64) * (2.0 * math.pi * _TWO_POW_MINUS_53)
        radius = np.sqrt(-2.0 * np.log(u1))
        out = np.empty(2 * pairs, dtype=np.float64)
        np.multiply(radius, np.cos(theta), out=out[:pairs])
        np.multiply(radius, np.sin(theta), out=out[pairs:])
        return out[:n]

    def gaussian(self, std: float, n: int) -> npt.NDArray[np.float64]:
        """Return ``n`` draws of N(0, std²), each the sum of 4 draws of N(0, std²) halved.

        This is Opacus' secure-mode construction (Holohan & Braghin 2021, §5.1, n = 2).
        """
        if not math.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
        if std == 0.0:
            return np.zeros(n, dtype=np.float64)
        draws = self.standard_normal(GAUSSIAN_DRAWS * n).reshape(GAUSSIAN_DRAWS, n)
        total: npt.NDArray[np.float64] = draws.sum(axis=0)
        total *= std / math.sqrt(GAUSSIAN_DRAWS)
        return total

    def __repr__(self) -> str:
        return "SecureRandom(<AES-128-CTR, key redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecureRandom cannot be pickled")
