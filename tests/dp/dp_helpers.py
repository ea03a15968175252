"""Helpers shared by the fedseal.dp tests (a unique module name: tests/ has no packages)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def seeded_key_source(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic key source for SecureRandom (tests only)."""
    counter = 0

    def source(n: int) -> bytes:
        nonlocal counter
        counter += 1
        return hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()[:n]

    return source
