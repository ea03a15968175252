"""A silo's FedAvg weight is the declared one, never its live record count (issue 11 item 1).

Differencing the total weight of two rounds used to reveal a silo's exact record count (the
demo: 455 - 364 = 91, hospital-e's). Here the app reports a different count every round and the
weight inside the contribution never moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fedseal.client.agent import SiloAgent
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.secagg.identity import IdentityKey
from fedseal.secagg.quantize import QuantizationSpec

DIM = 3
SPEC = QuantizationSpec(clip=1.0, bits=8, max_weight=1000, max_silos=2, num_metrics=2)
NO_METRICS = 0  # the metrics' weight v when a silo sends none
KEY = IdentityKey.generate()


class ChangingCountApp:
    """Reports 91, then 364, then 5 examples."""

    def __init__(self) -> None:
        self.counts = iter([91, 364, 5])

    def get_weights(self) -> npt.NDArray[np.float64]:
        return np.zeros(DIM)

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        return weights + 0.1, next(self.counts), {}

    evaluations = 0  # across instances: how often any silo evaluated

    def evaluate(
        self, weights: Any, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        ChangingCountApp.evaluations += 1
        return 0.5, 0, {"accuracy": 0.25}


def _agent(tmp_path: Path, **kwargs: Any) -> SiloAgent:
    return SiloAgent(
        silo="silo-a",
        deployment_id="dep",
        identity_key=KEY,
        directory={"silo-a": KEY.public_key},
        server_identity=IdentityKey.generate().public_key,
        app=ChangingCountApp(),
        state_dir=tmp_path,
        allow_plaintext=True,  # to read the contribution directly
        **kwargs,
    )


@pytest.mark.parametrize(("declared", "sent"), [(None, 1), (40, 40), (5000, 1000)])
def test_the_weight_sent_is_the_declared_one_whatever_the_count(
    tmp_path: Path, declared: int | None, sent: int
) -> None:
    agent = _agent(tmp_path, **({} if declared is None else {"fedavg_weight": declared}))
    for round_id in (1, 2, 3):
        request = c.TrainRequest("dep", round_id, np.zeros(DIM), "none", SPEC)
        (reply,), _ = agent.handle(request)
        assert isinstance(reply, c.PlaintextInput)
        assert int(reply.vector[DIM]) == sent  # capped at max_weight, never 91 / 364 / 5


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_a_bad_declared_weight_is_refused(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ConfigError, match="fedavg_weight"):
        _agent(tmp_path, fedavg_weight=bad)


@pytest.mark.parametrize("send", [False, True])
def test_metrics_leave_the_silo_only_when_its_config_allows(tmp_path: Path, send: bool) -> None:
    ChangingCountApp.evaluations = 0
    agent = _agent(tmp_path, fedavg_weight=7, send_metrics=send)
    (reply,), _ = agent.handle(c.TrainRequest("dep", 1, np.zeros(DIM), "none", SPEC))
    assert isinstance(reply, c.PlaintextInput)
    v = int(reply.vector[DIM + 1])
    if send:
        assert v == 7 and np.any(reply.vector[DIM + 2 :]) and ChangingCountApp.evaluations == 1
    else:  # nothing about the local data beyond the DP update: not even evaluated
        assert v == NO_METRICS and not np.any(reply.vector[DIM + 2 :])
        assert ChangingCountApp.evaluations == 0
    decoded = SPEC.decode_sum(reply.vector, dim=DIM, contributors=1)
    assert (decoded.metrics is not None) is send
