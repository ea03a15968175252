"""The user-facing silo API: a small, framework-agnostic object that trains on the silo's data.

``fedseal client --app module:function`` imports ``module`` and calls ``function(context)``
with a :class:`SiloContext`; it must return an object with the three methods of
:class:`SiloApp`. Weights are either one flat ``float64`` numpy vector or a list of numpy
arrays, one per layer, as the app's ``get_weights()`` returns them
(:mod:`fedseal.client.arrays`; adapters: :mod:`fedseal.torch`, :mod:`fedseal.sklearn`); the
app never sees keys, masks or the network.

Any app may have ``layer_names()`` returning one name per array of ``get_weights()`` (for torch,
``fedseal.torch.names(model)``): the silo declares names and shapes to the server when it
connects, so the server can check its model before round 1 and export it as a ``state_dict``.

A DP app may also have ``privacy_plan()`` returning a :class:`fedseal.dp.guard.PrivacyPlan`
(delegate to :meth:`fedseal.dp.PrivateTrainer.privacy_plan`) or None: the silo then logs and
audits at start how many rounds its remaining ε budget allows, and refuses to start if none
does (:mod:`fedseal.client.budget`); and ``round_released(round_id)``, called when the server's
signed checkpoint attests that the round's aggregate was released (delegate to
:meth:`fedseal.dp.PrivateTrainer.round_released`, so that the privacy report can tell released
rounds from rounds sent and then aborted).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.dp.config import DPConfig

__all__ = ["SiloApp", "SiloContext", "load_app"]

Weights = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SiloContext:
    """What the silo agent tells the app: who it is, where it may keep state, its DP settings.

    ``settings`` holds the app's own settings: in ``fedseal simulate --app`` the silo's
    ``silo_index`` (0-based) and the number of ``silos``, so that an app can take its part of a
    data set.
    """

    silo: str
    state_dir: Path
    dp: DPConfig | None
    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class SiloApp(Protocol):
    """What a silo's training code provides."""

    def get_weights(self) -> Any:
        """The app's model: one flat vector, or a list of arrays (one per layer).

        Asked once, for the layout (the shapes) the silo then checks every round against.
        """

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, Mapping[str, float]]:
        """Train from ``weights`` (shaped as ``get_weights()``); ``(new_weights, n, metrics)``.

        ``config["round"]`` is the round id; the rest is the server strategy's round config
        (e.g. ``lr``, ``proximal_mu``). May raise
        :class:`~fedseal.errors.PrivacyBudgetExceeded` to abstain from the round.
        """

    def evaluate(
        self, weights: Any, config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        """Evaluate ``weights`` on local data: ``(loss, num_examples, {"accuracy": ...})``."""


def load_app(spec: str, context: SiloContext) -> SiloApp:
    """Import ``module:function`` and return ``function(context)``.

    Raises
    ------
    ConfigError
        If the spec is malformed, cannot be imported, or the object lacks the methods.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr.isidentifier():
        raise ConfigError(f"--app must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for --app: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"{spec!r}: {attr!r} is not a callable in {module_name!r}")
    app = factory(context)
    if not isinstance(app, SiloApp):
        raise ConfigError(f"{spec!r} returned an object without get_weights/fit/evaluate")
    return app
