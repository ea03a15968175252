"""scikit-learn adapter: a linear model as the list of arrays a silo app exchanges with fedseal.

For estimators with ``coef_`` and ``intercept_`` (``LogisticRegression``, ``SGDClassifier``,
``LinearRegression``, ``Ridge``, ...): :func:`arrays` returns ``[coef_, intercept_]`` and
:func:`load` sets them, so an app can ``load`` the global model, run ``fit`` (with
``warm_start=True`` where the estimator has it, to start from it) or ``partial_fit``, and return
:func:`arrays`. :func:`zeros` gives the initial arrays before the estimator has seen data, from
the number of features and classes (one row for binary classification, as scikit-learn does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["arrays", "load", "zeros"]


def zeros(n_features: int, n_classes: int = 2) -> list[npt.NDArray[np.float64]]:
    """``[coef_, intercept_]`` of zeros for a linear classifier (``n_classes == 1``: a regressor).

    Raises
    ------
    ValueError
        If ``n_features < 1`` or ``n_classes < 1``.
    """
    if n_features < 1 or n_classes < 1:
        raise ValueError("need n_features >= 1 and n_classes >= 1")
    rows = 1 if n_classes <= 2 else n_classes
    return [np.zeros((rows, n_features)), np.zeros(rows)]


def arrays(model: Any) -> list[npt.NDArray[np.float64]]:
    """``[coef_, intercept_]`` of a fitted linear model, as float64 copies (2-D and 1-D)."""
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64)).copy()
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64)).copy()
    return [coef, intercept]


def load(model: Any, weights: Sequence[npt.ArrayLike], classes: Any = None) -> None:
    """Set ``coef_`` and ``intercept_`` of ``model`` from ``[coef, intercept]``.

    ``classes`` (e.g. ``[0, 1]``) is set as ``classes_`` when the model has not been fitted yet,
    so that ``predict`` works on the loaded model.

    Raises
    ------
    ValueError
        If ``weights`` is not two arrays of matching row counts.
    """
    if len(weights) != 2:
        raise ValueError(f"expected [coef, intercept], got {len(weights)} arrays")
    coef = np.atleast_2d(np.asarray(weights[0], dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(weights[1], dtype=np.float64))
    if coef.shape[0] != intercept.shape[0]:
        raise ValueError(f"coef has {coef.shape[0]} rows, intercept {intercept.shape[0]}")
    model.coef_, model.intercept_ = coef.copy(), intercept.copy()
    if classes is not None and not hasattr(model, "classes_"):
        model.classes_ = np.asarray(classes)
