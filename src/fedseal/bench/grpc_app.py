"""The silo app of ``fedseal bench grpc``: a fixed pseudo-random update of ``FEDSEAL_BENCH_DIM``.

Training costs nothing, so what the benchmark measures is the protocol and the transport.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.client.app import SiloContext

__all__ = ["BenchApp", "make_app"]


class BenchApp:
    """Returns ``weights + u`` for a fixed ``u`` drawn once, uniform in ``[-1, 1]``."""

    def __init__(self, context: SiloContext, dim: int) -> None:
        seed = int.from_bytes(context.silo.encode()[:8].ljust(8, b"\0"), "little")
        self._update = np.random.default_rng(seed).uniform(-1.0, 1.0, dim)
        self.dim = dim

    def get_weights(self) -> npt.NDArray[np.float64]:
        return np.zeros(self.dim)

    def fit(
        self, weights: npt.NDArray[np.float64], config: Mapping[str, Any]
    ) -> tuple[npt.NDArray[np.float64], int, Mapping[str, float]]:
        return weights + self._update, 100, {}

    def evaluate(
        self, weights: npt.NDArray[np.float64], config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        return 0.0, 100, {"accuracy": 0.0}


def make_app(context: SiloContext) -> BenchApp:
    """The ``--app`` factory."""
    return BenchApp(context, int(os.environ.get("FEDSEAL_BENCH_DIM", "1000")))
