"""Which models a silo has already helped to unmask a sum on (one answer per model).

Theory of operation
-------------------
Three honest two-silo rounds on the same model, {a,b}, {a,c}, {b,c}, give silo a's input as
``(S1 + S2 - S3) / 2`` without any colluder. A silo therefore answers an unmask request at
most once per **model digest** (SHA-256 of the global weights it trained from), and records
that answer durably *before* the answer leaves. A round that aborted before unmasking released
nothing, so an honest retry on the same model still works. ``docs/secagg.md`` shows why this,
with the threshold, stops every linear combination of sums on one model from isolating a silo.

:class:`ReleaseLedger` is what a :class:`~fedseal.protocol.client.ClientSession` consults;
:class:`MemoryReleaseLedger` keeps it in memory (tests, simulations); the silo agent keeps it
on disk (:class:`fedseal.client.released.FileReleaseLedger`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fedseal.secagg.identity import signing_payload

__all__ = ["MemoryReleaseLedger", "ReleaseLedger", "model_digest"]


def model_digest(weights: npt.NDArray[Any]) -> bytes:
    """SHA-256 of the global weights (float64, little-endian) and their shape."""
    w = np.ascontiguousarray(weights, dtype="<f8")
    return hashlib.sha256(signing_payload("model", *w.shape, w.tobytes())).digest()


class ReleaseLedger(Protocol):
    """The models on which this silo already answered an unmask request."""

    def released(self, model: bytes) -> bool:
        """True if this silo already answered an unmask request on ``model``."""

    def record(self, model: bytes) -> None:
        """Remember ``model``; must be durable when it returns (the answer is sent next)."""


class MemoryReleaseLedger:
    """A :class:`ReleaseLedger` in memory: for tests and one-process simulations."""

    def __init__(self) -> None:
        self._models: set[bytes] = set()

    def released(self, model: bytes) -> bool:
        """True if ``model`` was recorded."""
        return model in self._models

    def record(self, model: bytes) -> None:
        """Remember ``model``."""
        self._models.add(bytes(model))
