"""FedAvg (McMahan et al., AISTATS 2017) as a small strategy over the securely aggregated sum.

The server never sees one silo's update: it receives only the decoded sum of every survivor's
``[w*update, w, v, v*metrics]`` (:meth:`fedseal.secagg.quantize.QuantizationSpec.decode_sum`), so
the weighted mean update is ``sum(w*update) / sum(w)`` and the new global model is the old one
plus that mean. The metrics are the weighted means of what silos measured of the global model
they were sent (loss and accuracy on their own data), also learned only as a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.secagg.quantize import DecodedSum

__all__ = ["METRIC_NAMES", "FedAvg", "RoundMetrics"]

#: The metrics every silo encodes, in order, inside its masked vector.
METRIC_NAMES = ("loss", "accuracy")


@dataclass(frozen=True)
class RoundMetrics:
    """What the server learns from one round besides the new model."""

    total_weight: int
    loss: float | None  # None: no silo sent metrics (silos under DP send none)
    accuracy: float | None


class FedAvg:
    """Federated averaging over updates.

    Parameters
    ----------
    initial : ndarray of float64
        The global model before round 1 (flattened).
    server_lr : float
        Step size applied to the mean update (1.0 is plain FedAvg).
    """

    def __init__(self, initial: npt.NDArray[np.float64], *, server_lr: float = 1.0) -> None:
        if initial.ndim != 1 or not np.all(np.isfinite(initial)):
            raise ConfigError("the initial model must be a finite 1-D float vector")
        if not server_lr > 0:
            raise ConfigError(f"server_lr must be > 0, got {server_lr}")
        self.weights = np.array(initial, dtype=np.float64)
        self.server_lr = server_lr

    @property
    def dim(self) -> int:
        """Number of model parameters."""
        return int(self.weights.size)

    def apply(self, decoded: DecodedSum) -> RoundMetrics:
        """Move the global model by the decoded mean update; return the round's metrics."""
        if decoded.mean.shape != self.weights.shape:
            raise ConfigError(
                f"aggregate has {decoded.mean.size} values, the model {self.weights.size}"
            )
        self.weights = self.weights + self.server_lr * decoded.mean
        if decoded.metrics is None:
            return RoundMetrics(decoded.total_weight, None, None)
        loss, accuracy = (float(v) for v in decoded.metrics[: len(METRIC_NAMES)])
        return RoundMetrics(decoded.total_weight, loss, accuracy)
