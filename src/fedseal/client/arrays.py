"""The app's model as named, shaped arrays, and the flat vector that travels in the protocol.

Secure aggregation sums one flat vector per silo. An app may still work with its model as a
list of numpy arrays, one per layer (as Flower's ``NDArrays``): :class:`Layout` records the
shapes the app's ``get_weights()`` returned and converts between the two, checking every shape
on the way back, so that a layer of the wrong shape is a clear refusal for that round and not
a silently misplaced update. An app that returns one flat ``float64`` vector keeps working
unchanged (no layout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Layout", "layout_of"]

Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Layout:
    """The shapes of an app's arrays, in order."""

    shapes: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        """Number of parameters (the flat vector's length)."""
        return sum(math.prod(s) for s in self.shapes)

    def describe(self) -> str:
        """``"3 arrays: (64, 30), (64,), (2, 64)..."`` for messages."""
        shown = ", ".join(str(s) for s in self.shapes[:4])
        more = ", ..." if len(self.shapes) > 4 else ""
        return f"{len(self.shapes)} arrays: {shown}{more}"

    def unflatten(self, vector: Vector) -> list[Vector]:
        """The arrays of ``vector`` (copies), shaped as this layout.

        Raises
        ------
        ValueError
            If ``vector`` does not have :attr:`size` values.
        """
        if vector.size != self.size:
            raise ValueError(
                f"the model has {vector.size} values; this app's has {self.size} "
                f"({self.describe()})"
            )
        out, start = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(np.array(vector[start : start + n], dtype=np.float64).reshape(shape))
            start += n
        return out

    def flatten(self, arrays: Any) -> Vector:
        """One float64 vector from ``arrays``, which must match this layout array by array.

        Raises
        ------
        ValueError
            Naming the first array of another shape, a count mismatch, or non-numbers.
        """
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
            raise ValueError(f"expected a list of {len(self.shapes)} arrays, got {type(arrays)}")
        if len(arrays) != len(self.shapes):
            raise ValueError(f"expected {len(self.shapes)} arrays, got {len(arrays)}")
        parts = []
        for i, (array, shape) in enumerate(zip(arrays, self.shapes, strict=True)):
            a = np.asarray(array, dtype=np.float64)
            if a.shape != shape:
                raise ValueError(f"array {i} has shape {a.shape}, expected {shape}")
            parts.append(a.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)


def layout_of(weights: Any) -> Layout | None:
    """The layout of what an app's ``get_weights()`` returned; None for one flat vector.

    Raises
    ------
    ValueError
        If ``weights`` is neither a 1-D vector nor a non-empty list of numeric arrays.
    """
    if isinstance(weights, np.ndarray):
        if weights.ndim != 1:
            raise ValueError(f"get_weights() returned an array of shape {weights.shape}: "
                             "return one flat vector or a list of arrays")  # fmt: skip
        return None
    if not isinstance(weights, Sequence) or not weights:
        raise ValueError("get_weights() must return a flat vector or a non-empty list of arrays")
    shapes = tuple(np.asarray(a, dtype=np.float64).shape for a in weights)
    return Layout(shapes)
