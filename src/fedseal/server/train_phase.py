"""The first phase of a round on the coordinator: send the ``TrainRequest``, collect the answers.

Every participant gets the same ``TrainRequest`` (the global model, the mode, the quantization
and the strategy's config for the round); its digest is bound into every signature of the
round. Answers are collected until ``train_timeout_s`` (:func:`~fedseal.server.events.gather`):
an ``Abstain`` or an answer the aggregation mode refuses
(:meth:`~fedseal.server.aggregators.ServerAggregator.accept`) makes the silo a dropout of stage
``train`` (audited through ``io.drop``); below ``min_participants`` ready silos the round is
aborted. :func:`model_mismatch` tells the driver when every participant refused the model as not
fitting its app, so that no retry is attempted.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedseal.errors import RoundAbortedError
from fedseal.protocol import control as c
from fedseal.server.aggregators import ServerAggregator
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import Link, RoundIO, gather
from fedseal.server.strategy import Strategy
from fedseal.server.summary import RoundSummary

__all__ = ["model_mismatch", "train"]


async def train(
    io: RoundIO,
    summary: RoundSummary,
    *,
    config: DriverConfig,
    strategy: Strategy,
    links: Mapping[str, Link],
    aggregator: ServerAggregator,
) -> None:
    """Run the train phase of ``summary``'s round; sets ``summary.ready`` and ``survivors``.

    Raises
    ------
    RoundAbortedError
        If fewer than ``config.min_silos`` silos are ready.
    """
    round_config = tuple(sorted(strategy.configure_round(summary.round_id).items()))
    request = c.TrainRequest(
        config.deployment_id, summary.round_id, strategy.weights, config.aggregation,
        config.quantization, round_config,
    )  # fmt: skip
    summary.train_digest = request.digest()
    for silo in summary.participants:
        links[silo].send(request)  # one object: the transport encodes it once for all

    def missing(silo: str, reason: str) -> None:
        io.drop(silo, "train", reason)

    ready = []
    answers = gather(io, summary.participants, timeout_s=config.train_timeout_s, missing=missing)
    async for silo, message in answers:
        if isinstance(message, c.Abstain):
            refusal: str | None = f"abstained: {message.reason[:200]}"
        else:
            refusal = await aggregator.accept(silo, message)
        if refusal is None:
            ready.append(silo)
        else:
            io.drop(silo, "train", refusal)
    summary.ready = summary.survivors = tuple(sorted(ready))
    if len(ready) < config.min_silos:
        raise RoundAbortedError(
            f"only {len(ready)} silos ready; min_participants is {config.min_silos}"
        )


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
