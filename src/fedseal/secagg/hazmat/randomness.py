"""Injected randomness: the only way secagg and protocol code obtains random bytes.

Sessions never call ``os.urandom`` or a global RNG themselves; they are handed a
:class:`RandomSource`. Production uses :class:`SystemRandomSource` (the OS CSPRNG, stretched with
AES-128-CTR for bulk draws such as stochastic-rounding coins); tests and reproducible simulations
use :class:`SeededRandomSource`.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fedseal.secagg.hazmat.prg import keystream_uint32

__all__ = ["RandomSource", "SeededRandomSource", "SystemRandomSource"]


class RandomSource(Protocol):
    """Where a session gets its randomness from."""

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` uniformly random bytes."""
        ...

    def uint32(self, n: int) -> npt.NDArray[np.uint32]:
        """Return ``n`` uniformly random 32-bit words."""
        ...


class SystemRandomSource:
    """The operating system's CSPRNG. Bulk draws use AES-128-CTR under a fresh 128-bit key."""

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` bytes from ``os.urandom``."""
        return os.urandom(n)

    def uint32(self, n: int) -> npt.NDArray[np.uint32]:
        """Return ``n`` random words: the AES-CTR keystream of a key drawn from ``os.urandom``."""
        return keystream_uint32(os.urandom(16), n)

    def __repr__(self) -> str:
        return "SystemRandomSource()"


class SeededRandomSource:
    """A deterministic source for tests and reproducible simulations.

    Warnings
    --------
    Anyone who knows the seed knows every mask and share. Never use it in a deployment.
    """

    def __init__(self, seed: bytes | int) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes(16, "big", signed=False)
        self._state = hashlib.sha256(b"fedseal seeded source" + seed).digest()
        self._counter = 0

    def _next_key(self) -> bytes:
        self._counter += 1
        return hashlib.sha256(self._state + self._counter.to_bytes(8, "big")).digest()

    def token_bytes(self, n: int) -> bytes:
        """Return ``n`` deterministic pseudo-random bytes."""
        out = bytearray()
        while len(out) < n:
            out += self._next_key()
        return bytes(out[:n])

    def uint32(self, n: int) -> npt.NDArray[np.uint32]:
        """Return ``n`` deterministic pseudo-random words."""
        return keystream_uint32(self._next_key()[:16], n)

    def __repr__(self) -> str:
        return "SeededRandomSource(<seed hidden>)"
