"""A numpy logistic-regression silo app, for simulations (``fedseal simulate``) and tests.

:class:`LogisticRegressionApp` is a :class:`~fedseal.client.app.SiloApp` on one silo's
``(x, y)``: flat weights ``[w_1, ..., w_d, bias]``, full-batch gradient descent with a small L2
penalty on the weights (no differential privacy), the round's ``local_epochs``, ``lr`` and
FedProx's ``proximal_mu`` taken from the strategy's per-round config. It is the non-DP training
of the demo's silo app, in numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LogisticRegressionApp", "gradient_descent", "loss_and_accuracy"]

Array = npt.NDArray[np.float64]

_L2 = 1e-3


def loss_and_accuracy(w: Array, x: Array, y: Array) -> tuple[float, float]:
    """Logistic loss and accuracy of the flat weights ``w`` (bias last) on ``(x, y)``.

    Parameters
    ----------
    w : ndarray of float64
        ``x.shape[1] + 1`` values.
    x : ndarray of float64
        Features, one row per example.
    y : ndarray of float64
        Labels in {0, 1}.
    """
    p = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))
    eps = 1e-12
    loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    return float(loss), float(np.mean((p > 0.5) == y))


def gradient_descent(
    w: Array, x: Array, y: Array, *, epochs: int = 20, lr: float = 0.5, mu: float = 0.0
) -> Array:
    """Full-batch gradient descent from ``w``; ``mu`` > 0 adds FedProx's ``μ/2·|w - w_global|²``.

    Raises
    ------
    ValueError
        If ``epochs`` is not in 1..1000 or ``lr``, ``mu`` are not finite with ``lr > 0``,
        ``mu >= 0`` (the values come from the server's round config).
    """
    if not (1 <= epochs <= 1000 and np.isfinite(lr) and lr > 0 and np.isfinite(mu) and mu >= 0):
        raise ValueError(f"round config out of range: epochs={epochs}, lr={lr}, mu={mu}")
    anchor, w = w, np.array(w, dtype=np.float64)
    for _ in range(epochs):
        grad = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1]))) - y
        prox = mu * (w - anchor)
        w[:-1] -= lr * (x.T @ grad / y.size + _L2 * w[:-1] + prox[:-1])
        w[-1] -= lr * (float(np.mean(grad)) + prox[-1])
    return w


class LogisticRegressionApp:
    """One silo's training code on its ``(x, y)`` (see the module docstring).

    Parameters
    ----------
    x : ndarray of float64
        The silo's features, one row per example.
    y : ndarray of float64
        Its labels in {0, 1}.
    """

    def __init__(self, x: Array, y: Array) -> None:
        self.x, self.y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def get_weights(self) -> Array:
        """Zeros: weights then bias."""
        return np.zeros(self.x.shape[1] + 1)

    def fit(
        self, weights: Array, config: Mapping[str, Any]
    ) -> tuple[Array, int, Mapping[str, float]]:
        """Gradient descent from the global ``weights`` with the round's config."""
        w = gradient_descent(
            weights, self.x, self.y,
            epochs=int(config.get("local_epochs", 20)),
            lr=float(config.get("lr", 0.5)),
            mu=float(config.get("proximal_mu", 0.0)),
        )  # fmt: skip
        return w, len(self.y), {}

    def evaluate(
        self, weights: Array, config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        """Loss and accuracy of ``weights`` on the silo's data."""
        loss, accuracy = loss_and_accuracy(weights, self.x, self.y)
        return loss, len(self.y), {"accuracy": accuracy}
