"""The demo's silo app: logistic regression on one hospital's share of breast-cancer data.

``fedseal client --app fedseal.demo.app:make_app`` builds one of these per silo. The data is
scikit-learn's bundled Wisconsin breast-cancer set, split non-IID across the deployment's silos
exactly as :func:`fedseal.simulation.data.load_hospitals` does (the held-out 20 % stays with the
demo, never with a silo). With DP settings the silo trains with DP-SGD through
:class:`fedseal.dp.PrivateTrainer`, whose ledger lives in the silo's state directory; without,
it runs plain full-batch gradient descent in numpy, so ``fedseal demo --no-dp`` needs no torch
(DP needs the ``dp`` extra). Under DP the app sends no training metrics (they would be
un-noised functions of the data): :meth:`DemoApp.evaluate` then reports zeros.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.client.app import SiloContext
from fedseal.simulation.data import load_hospitals, silo_names
from fedseal.simulation.logreg import LogisticRegressionApp

__all__ = ["DIM", "DemoApp", "make_app", "silo_names"]

FEATURES = 30
DIM = FEATURES + 1  # weights then bias, the order of torch.nn.Linear's state_dict
_SILOS_ENV = "FEDSEAL_DEMO_SILOS"

Weights = npt.NDArray[np.float64]


class DemoApp:
    """One hospital's training code (see the module docstring)."""

    def __init__(self, context: SiloContext, *, n_silos: int) -> None:
        names = silo_names(n_silos)
        silos, _ = load_hospitals(n_silos)
        self.x, self.y = silos[names.index(context.silo)]
        self.dp = context.dp
        self._plain = LogisticRegressionApp(self.x, self.y)  # the training without DP
        self._trainer: Any = None
        if context.dp is not None:  # DP-SGD needs the 'dp' extra; plain training is numpy
            from fedseal.extras import require

            require("dp", "torch", "opacus")
            import torch

            from fedseal.dp import PrivacyLedger, PrivateTrainer

            torch.set_num_threads(1)

            ledger = PrivacyLedger.open(context.state_dir, silo=context.silo, config=context.dp)
            self._trainer = PrivateTrainer(
                lambda: torch.nn.Linear(FEATURES, 1),
                self.x,
                self.y.astype(np.int64),
                config=context.dp,
                ledger=ledger,
                batch_size=32,
                steps_per_round=20,
                learning_rate=0.5,
            )

    def get_weights(self) -> Weights:
        return np.zeros(DIM)

    def privacy_plan(self) -> Any:
        """The rounds the remaining ε budget allows (``fedseal.client.budget``); None without DP."""
        return None if self._trainer is None else self._trainer.privacy_plan()

    def round_released(self, round_id: int) -> None:
        """The server attested ``round_id``: mark it released in the privacy ledger."""
        if self._trainer is not None:
            self._trainer.round_released(round_id)

    def fit(
        self, weights: Weights, config: Mapping[str, Any]
    ) -> tuple[Weights, int, Mapping[str, float]]:
        if self._trainer is None:
            return self._plain.fit(weights, config)
        split = [weights[:FEATURES].reshape(1, FEATURES), weights[FEATURES:]]
        new, n, metrics = self._trainer.fit(split, int(config["round"]), config)
        return np.concatenate([np.ravel(a) for a in new]).astype(np.float64), n, metrics

    def evaluate(
        self, weights: Weights, config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        if self.dp is not None:
            return 0.0, len(self.y), {}
        return self._plain.evaluate(weights, config)


def make_app(context: SiloContext) -> DemoApp:
    """The ``--app`` factory; the number of silos comes from ``FEDSEAL_DEMO_SILOS`` (default 5)."""
    return DemoApp(context, n_silos=int(os.environ.get(_SILOS_ENV, "5")))
