"""A fedseal silo app in scikit-learn: logistic regression on the breast-cancer data.

Each silo takes a non-IID share of scikit-learn's bundled Wisconsin breast-cancer set (sorted by
label, dealt in contiguous blocks), standardized with statistics of the training split; 20 % is
a held-out test set used only by :func:`test_accuracy`. Every round the silo loads the global
model into an ``SGDClassifier(loss="log_loss")`` and continues from it (``warm_start``) for a
few epochs of ``partial_fit`` over its own records. The model travels as ``[coef_, intercept_]``
(:mod:`fedseal.sklearn`). This app does not train with DP (``fedseal simulate --dp`` gives it
DP settings, which it refuses); see ``examples/torch_digits`` for DP-SGD.

Run from this folder::

    fedseal simulate --app app:make_app --silos 5 --rounds 5 --out run
    fedseal client --config silo.toml --app app:make_app
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import SGDClassifier

import fedseal.sklearn
from fedseal.client.app import SiloContext
from fedseal.client.arrays import layout_of

Array = npt.NDArray[Any]
SEED = 0
FEATURES = 30
CLASSES = [0, 1]
EPOCHS = 5


def _split() -> tuple[Array, Array, Array, Array]:
    """Standardized features with a stratified 20 % held-out test set."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=SEED
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_test), y_test


def load_partition(context: SiloContext) -> tuple[Array, Array]:
    """This silo's training examples ``(x, y)``: the place to plug in a site's own data.

    In simulation ``context.settings`` carries ``silo_index`` and ``silos``. A deployed silo
    (``fedseal client``) gets no settings, so it would train on the whole training split:
    replace the body with code that reads the site's own records, standardized with statistics
    agreed by all sites (not each silo's own), as here.
    """
    x, y, _, _ = _split()
    index = int(context.settings.get("silo_index", 0))
    silos = int(context.settings.get("silos", 1))
    order = np.argsort(y, kind="stable")  # non-IID: contiguous blocks of sorted labels
    part = np.array_split(order, silos)[index]
    return x[part], y[part]


def load_test() -> tuple[Array, Array]:
    """The held-out test set ``(x, y)``, never trained on."""
    _, _, x, y = _split()
    return x, y


def _model() -> SGDClassifier:
    return SGDClassifier(
        loss="log_loss", alpha=1e-3, learning_rate="constant", eta0=0.05,
        warm_start=True, random_state=SEED,
    )  # fmt: skip


class CancerApp:
    """One silo's training code (see the module docstring)."""

    def __init__(self, context: SiloContext) -> None:
        if context.dp is not None:
            raise ValueError("this example trains without DP; see examples/torch_digits for DP")
        self.x, self.y = load_partition(context)
        self.model = _model()

    def get_weights(self) -> list[Array]:
        return fedseal.sklearn.zeros(FEATURES, len(CLASSES))

    def fit(
        self, weights: list[Array], config: Mapping[str, Any]
    ) -> tuple[list[Array], int, Mapping[str, float]]:
        fedseal.sklearn.load(self.model, weights, classes=CLASSES)
        epochs = int(config.get("local_epochs", EPOCHS))
        if not 1 <= epochs <= 100:
            raise ValueError(f"round config out of range: local_epochs={epochs}")
        rng = np.random.default_rng(int(config["round"]))
        # warm start: partial_fit continues from the loaded global coef_ and intercept_ (and,
        # unlike fit, accepts a silo that holds records of one class only)
        for _ in range(epochs):
            order = rng.permutation(len(self.y))
            self.model.partial_fit(self.x[order], self.y[order], classes=CLASSES)
        return fedseal.sklearn.arrays(self.model), len(self.y), {}

    def evaluate(
        self, weights: list[Array], config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        loss, accuracy = loss_and_accuracy(weights, self.x, self.y)
        return loss, len(self.y), {"accuracy": accuracy}


def loss_and_accuracy(weights: Any, x: Array, y: Array) -> tuple[float, float]:
    """Log loss and accuracy of ``weights`` (``[coef, intercept]``, or flat) on ``(x, y)``."""
    if not isinstance(weights, list):  # a flat vector, e.g. the simulation's final model
        layout = layout_of(fedseal.sklearn.zeros(FEATURES, len(CLASSES)))
        assert layout is not None
        weights = layout.unflatten(np.asarray(weights, dtype=np.float64))
    model = _model()
    fedseal.sklearn.load(model, weights, classes=CLASSES)
    p = np.clip(model.predict_proba(x)[:, 1], 1e-12, 1 - 1e-12)
    loss = -float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return loss, float(np.mean(model.predict(x) == y))


def test_accuracy(weights: Any) -> float:
    """Accuracy of ``weights`` (list of arrays, or the flat global model) on the held-out set."""
    x, y = load_test()
    return loss_and_accuracy(weights, x, y)[1]


test_accuracy.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def make_app(context: SiloContext) -> CancerApp:
    """The ``--app`` factory: ``fedseal client --app app:make_app`` from this folder."""
    return CancerApp(context)
