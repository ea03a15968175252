"""The coordinator's side of a round's first phase: the ``TrainRequest``, and when to give up.

Every participant gets the same ``TrainRequest`` (the global model, the mode, the quantization
and the strategy's config for the round, :func:`train_request`); its digest is bound into every
signature of the round. The answers are collected by
:class:`~fedseal.protocol.round_control.RoundControl`'s train phase. :func:`model_mismatch`
tells the driver when every participant refused the model as not fitting its app, so that no
retry is attempted.
"""

from __future__ import annotations

from fedseal.protocol import control as c
from fedseal.server.driver_config import DriverConfig
from fedseal.server.strategy import Strategy
from fedseal.server.summary import RoundSummary

__all__ = ["model_mismatch", "train_request"]


def train_request(config: DriverConfig, strategy: Strategy, round_id: int) -> c.TrainRequest:
    """The round's ``TrainRequest``, with the strategy's config for the round."""
    round_config = tuple(sorted(strategy.configure_round(round_id).items()))
    return c.TrainRequest(
        config.deployment_id, round_id, strategy.weights, config.aggregation,
        config.quantization, round_config,
    )  # fmt: skip


def model_mismatch(summary: RoundSummary, dim: int) -> str | None:
    """Why to stop: every participant refused the model as not fitting its app (else None).

    The silos' ``Hello`` normally catches this before round 1 (:mod:`fedseal.server.admission`);
    this is for apps that could not declare their layout.
    """
    refused = [d for d in summary.dropouts if c.MODEL_MISMATCH in d["reason"]]
    if summary.completed or not summary.participants:
        return None
    if {d["silo"] for d in refused} >= set(summary.participants):
        return (
            f"the server's model has {dim} values, which no silo's app accepts "
            f"({refused[0]['reason'][:200]}); check the initial model (--init-model) or the apps"
        )
    return None
