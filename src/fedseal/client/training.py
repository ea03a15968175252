"""One silo's local round: ask the user's app to evaluate and train, then encode the update.

:class:`LocalTraining` is the only place the silo agent calls user code for a round. It returns
the encoded contribution ``[w*q(update), w, v, v*q(metrics)]``
(:meth:`fedseal.secagg.quantize.QuantizationSpec.encode`) or the reason the silo cannot take
part, which the aggregation mode turns into an abstention or an ``AbortRound``:

* ``w`` is the silo's **declared** FedAvg weight, never the live record count the app returns
  (the sum of weights over rounds would reveal it);
* the app works with its model as one flat vector or as a list of arrays, one per layer
  (:mod:`fedseal.client.arrays`): the layout comes from its ``get_weights()`` and every array
  it returns is checked against it;
* the app's evaluation of the global model is asked for and sent only when ``send_metrics``
  is set, which a DP silo never sets (those figures are un-noised statistics of local data);
* a privacy-budget refusal is audited (``dp_budget_refused``) and the ε an app reports is
  audited (``dp_epsilon_spent``);
* **every other failure of the app fails this round only, never the silo process**: an
  exception, weights of the wrong size, not numbers, NaN or infinite, a malformed evaluation.
  The reason is logged, audited in the silo's log (``dropout`` at stage ``train``) and sent to
  the server (an abstention or ``AbortRound``), which audits it and prints it with the round.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.client.app import SiloApp
from fedseal.client.arrays import Layout, layout_of
from fedseal.errors import ConfigError, PrivacyBudgetExceeded
from fedseal.protocol import control as c
from fedseal.protocol.hello import LayerSpec
from fedseal.secagg.hazmat.randomness import RandomSource

__all__ = ["LocalTraining"]

log = logging.getLogger("fedseal.client")

#: ``audit(event, round_id, outcome=..., **details)``, the agent's audit hook.
Audit = Callable[..., None]


class LocalTraining:
    """Evaluate, train and encode one round for one silo (see the module docstring).

    Parameters
    ----------
    silo : str
    app : SiloApp
        The user's model code.
    fedavg_weight : int
        The declared weight ``w`` (capped at the round's ``max_weight``).
    send_metrics : bool
        Evaluate the global model and send loss and accuracy inside the contribution.
    rng : RandomSource
        For stochastic rounding in the encoding.
    audit : callable
        The agent's audit hook.
    """

    def __init__(
        self,
        *,
        silo: str,
        app: SiloApp,
        fedavg_weight: int,
        send_metrics: bool,
        rng: RandomSource,
        audit: Audit,
    ) -> None:
        if (
            isinstance(fedavg_weight, bool)
            or not isinstance(fedavg_weight, int)
            or fedavg_weight < 1
        ):
            raise ConfigError(f"fedavg_weight must be an integer >= 1, got {fedavg_weight!r}")
        self.silo = silo
        self.app = app
        self.fedavg_weight = fedavg_weight
        self.send_metrics = send_metrics
        self._rng = rng
        self._audit = audit
        #: round id -> ε after it (NaN without DP), for every round the app trained; the agent
        #: logs it when the round's release is attested.
        self.contributed: dict[int, float] = {}
        self._layout: Layout | None = None
        self._shapes: tuple[tuple[int, ...], ...] = ()  # of every array (a flat vector: one)
        self._layout_known = False

    def layout(self) -> Layout | None:
        """The app's array layout, from its ``get_weights()`` (asked once); None: flat vector.

        Raises
        ------
        ValueError
            If ``get_weights()`` returns neither a flat vector nor a list of arrays.
        """
        if not self._layout_known:
            weights = self.app.get_weights()
            self._layout = layout_of(weights)
            self._shapes = (
                ((int(np.asarray(weights).size),),) if self._layout is None else self._layout.shapes
            )
            self._layout_known = True
        return self._layout

    def declared(self) -> tuple[LayerSpec, ...]:
        """The app's model as the silo's ``Hello`` declares it: each array's name and shape.

        Names come from the app's optional ``layer_names()`` (``fedseal.torch.names``); a flat
        vector is one unnamed array. Empty if the app fails to say (it is logged; each round
        will then say why in its abstention).
        """
        try:
            self.layout()  # asks get_weights() once, for the shapes too
            shapes = self._shapes
            namer = getattr(self.app, "layer_names", None)
            names = [str(n) for n in namer()] if callable(namer) else []
            if names and len(names) != len(shapes):
                log.warning("the app's layer_names() gives %d names for %d arrays; ignored",
                            len(names), len(shapes))  # fmt: skip
                names = []
            return tuple(
                LayerSpec(names[i] if names else "", shape) for i, shape in enumerate(shapes)
            )
        except Exception:  # user code, or a layout out of range
            log.exception("cannot tell the server the app's model layout")
            return ()

    def run(self, req: c.TrainRequest) -> npt.NDArray[Any] | str:
        """The encoded contribution for ``req``, or why this silo cannot contribute."""
        config = {"round": req.round_id, **dict(req.config)}
        weights = np.asarray(req.weights, dtype=np.float64)
        try:
            layout = self.layout()
            given: Any = weights if layout is None else layout.unflatten(weights)
        except Exception as exc:  # get_weights() is user code; a size mismatch is named
            return self._failed(req, f"{c.MODEL_MISMATCH}: the app's model does not fit: {exc}")
        try:
            evaluated = self.app.evaluate(given, config) if self.send_metrics else None
            new_weights, _, fit_metrics = self.app.fit(given, config)
        except PrivacyBudgetExceeded as exc:
            self._audit(
                ev.DP_BUDGET_REFUSED, req.round_id, ev.REFUSED, silo=self.silo,
                reason=str(exc)[:300],
            )  # fmt: skip
            return f"privacy budget: {exc}"
        except Exception as exc:  # the app is user code: one failed round must not end the silo
            log.exception("round %d: the app failed", req.round_id)
            return self._failed(req, f"the silo's app failed: {type(exc).__name__}: {exc}")
        checked = _checked_update(new_weights, weights, layout)
        if isinstance(checked, str):
            return self._failed(req, checked)
        try:
            dp = "epsilon" in fit_metrics
            epsilon = float(fit_metrics["epsilon"]) if dp else math.nan
            delta = float(fit_metrics.get("delta", 0.0)) if dp else 0.0
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            return self._failed(req, f"the app's metrics are malformed: {exc!r}")
        self.contributed[req.round_id] = epsilon
        for old in sorted(self.contributed)[:-16]:  # rounds never attested: keep the last 16
            del self.contributed[old]
        if dp:
            self._audit(
                ev.DP_EPSILON_SPENT, req.round_id, silo=self.silo, epsilon_total=epsilon,
                delta=delta,
            )  # fmt: skip
        spec = req.quantization
        weight = min(self.fedavg_weight, spec.max_weight)
        metrics = None
        if evaluated is not None:
            try:
                loss, _, eval_metrics = evaluated
                metrics = [float(loss), float(eval_metrics.get("accuracy", 0.0))]
            except (TypeError, ValueError, AttributeError) as exc:
                return self._failed(req, f"the app's evaluation is malformed: {exc}")
        try:
            return spec.encode(checked - weights, weight=weight, metrics=metrics, rng=self._rng)
        except ConfigError as exc:  # NaN/inf in the metrics, or an update that does not fit
            return self._failed(req, f"cannot encode this round's update: {exc}")

    def _failed(self, req: c.TrainRequest, reason: str) -> str:
        """Audit why this silo cannot contribute to ``req``'s round; return the reason."""
        reason = reason[:300]
        log.error("round %d: not contributing: %s", req.round_id, reason)
        self._audit(
            ev.DROPOUT, req.round_id, ev.FAILURE, silo=self.silo, stage="train", reason=reason
        )
        return reason


def _checked_update(
    new_weights: Any, weights: npt.NDArray[np.float64], layout: Layout | None
) -> Any:
    """The app's new weights as a flat float64 vector, or why they cannot be used."""
    if new_weights is None:
        return "the app returned no weights (None)"
    if layout is not None:
        try:
            new_weights = layout.flatten(new_weights)
        except (TypeError, ValueError) as exc:
            return f"the app's weights do not match its model ({layout.describe()}): {exc}"
    try:
        new = np.asarray(new_weights, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        return f"the app's weights are not an array of numbers: {exc}"
    if new.size != weights.size:
        return f"the app returned {new.size} weights; the model has {weights.size}"
    if not np.all(np.isfinite(new)):
        return "the app returned NaN or infinite weights"
    return new
