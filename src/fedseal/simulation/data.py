"""The data every simulation and the demo share: breast-cancer records split over hospitals.

:func:`load_hospitals` splits scikit-learn's bundled Wisconsin breast-cancer set (Wolberg et al.,
UCI) non-IID over the silos, with a held-out 20 % test set; :func:`silo_names` names the silos
``hospital-a``, ``hospital-b``, ... in the order of that split. ``fedseal simulate``, ``fedseal
demo`` (and its silo app) and ``fedseal bench grpc`` all use these two, so one silo holds the same
records in each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["load_hospitals", "silo_names"]

Array = npt.NDArray[np.float64]


def silo_names(n: int) -> list[str]:
    """``hospital-a`` ... ``hospital-z``, then ``hospital-aa``, ``hospital-ab``, ... (the demo's
    names; letters counted as spreadsheet columns, so any ``n`` gives valid, distinct names)."""
    return [f"hospital-{_letters(i)}" for i in range(n)]


def _letters(i: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa, ... (bijective base 26)."""
    out = ""
    i += 1
    while i:
        i, rest = divmod(i - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


def load_hospitals(
    n_silos: int, seed: int = 0
) -> tuple[list[tuple[Array, Array]], tuple[Array, Array]]:
    """Split breast-cancer data non-IID over ``n_silos`` plus a 20 % stratified test set."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    order = np.argsort(y_train + np.random.default_rng(seed).uniform(0, 0.5, y_train.size))
    parts = np.array_split(order, n_silos)
    silos = [(x_train[p], y_train[p].astype(np.float64)) for p in parts]
    return silos, (x_test, y_test.astype(np.float64))
