"""A masking silo trains only once the round passed its policy and stages 0-1 (issue 11 item 4).

A round the silo refuses, or one that aborts before the shares are delivered, must cost it no
training and so no privacy budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.client.agent import SiloAgent
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerSession
from fedseal.secagg.graph import GraphKind
from fedseal.secagg.identity import IdentityKey
from fedseal.secagg.quantize import QuantizationSpec

DEP, DIM = "dep", 4
SPEC = QuantizationSpec(clip=1.0, bits=8, max_weight=100, max_silos=3, num_metrics=2)
NAMES = ("silo-a", "silo-b", "silo-c")
KEYS = {s: IdentityKey.generate() for s in NAMES}
Vector = npt.NDArray[np.float64]


class CountingApp:
    """Counts how often it is asked to train or evaluate (each would spend budget under DP)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_weights(self) -> Vector:
        return np.zeros(DIM)

    def fit(
        self, weights: Vector, config: Mapping[str, Any]
    ) -> tuple[Vector, int, dict[str, float]]:
        self.calls += 1
        return weights + 0.1, 10, {}

    def evaluate(
        self, weights: Vector, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        self.calls += 1
        return 0.5, 10, {"accuracy": 0.5}


def _agents(tmp_path: Path) -> tuple[dict[str, SiloAgent], dict[str, CountingApp]]:
    apps = {s: CountingApp() for s in NAMES}
    directory = {s: k.public_key for s, k in KEYS.items()}
    agents = {
        s: SiloAgent(
            silo=s,
            deployment_id=DEP,
            identity_key=KEYS[s],
            directory=directory,
            server_identity=IdentityKey.generate().public_key,
            app=apps[s],
            state_dir=tmp_path / s,
            policy=ClientPolicy(roster_size=3, min_participants=3),
        )
        for s in NAMES
    }
    return agents, apps


def _request(round_id: int) -> c.TrainRequest:
    return c.TrainRequest(DEP, round_id, np.zeros(DIM), "masking", SPEC)


def _server(request: c.TrainRequest) -> ServerSession:
    """An honest server's session for a three-silo round on ``request``."""
    graph = ClientPolicy().required(3, roster_size=3)
    params = m.RoundParams(
        DEP, request.round_id, NAMES, graph.kind, graph.k, graph.threshold,
        SPEC.encoded_length(DIM), 32,
    )  # fmt: skip
    return ServerSession(
        params, {s: KEYS[s].public_key for s in NAMES}, train_digest=request.digest()
    )


def test_a_round_refused_by_policy_trains_nothing(tmp_path: Path) -> None:
    agents, apps = _agents(tmp_path)
    agent = agents["silo-a"]
    (ready,), _ = agent.handle(_request(1))
    assert isinstance(ready, c.TrainReady)
    # The server proposes a two-silo round; this silo's policy needs three.
    weak = m.RoundParams(
        DEP, 1, ("silo-a", "silo-b"), GraphKind.FULL, 1, 2, SPEC.encoded_length(DIM), 32
    )
    (reply,), _ = agent.handle(m.BeginRound(weak))
    assert isinstance(reply, m.AbortRound)
    assert apps["silo-a"].calls == 0


def test_a_round_that_aborts_before_the_shares_arrive_trains_nothing(tmp_path: Path) -> None:
    agents, apps = _agents(tmp_path)
    request = _request(1)
    server = _server(request)
    for agent in agents.values():
        agent.handle(request)
    outbox = server.start()
    # Stage 0 only: silo-c never advertises, so fewer than t = 3 keys: the round aborts.
    answers = [(s, agents[s].handle(msg)[0]) for s, msg in outbox if s != "silo-c"]
    out = []
    for silo, replies in answers:
        for reply in replies:
            out += server.receive(silo, reply)  # type: ignore[arg-type]
    out += server.close_stage()
    assert server.abort_reason is not None
    for silo, msg in out:
        agents[silo].handle(msg)
    assert all(app.calls == 0 for app in apps.values())


def test_training_happens_when_the_shares_arrive_and_the_sum_is_right(tmp_path: Path) -> None:
    agents, apps = _agents(tmp_path)
    request = _request(1)
    server = _server(request)
    for agent in agents.values():
        (ready,), _ = agent.handle(request)
        assert isinstance(ready, c.TrainReady)
    outbox = server.start()
    stages = 0
    while not server.finished and stages < 10:  # five stages; bounded
        stages += 1
        if any(isinstance(msg, m.ShareDelivery) for _, msg in outbox):
            assert all(app.calls == 0 for app in apps.values())  # not before the shares
        nxt = []
        for silo, msg in outbox:
            for reply in agents[silo].handle(msg)[0]:
                nxt += server.receive(silo, reply)  # type: ignore[arg-type]
        outbox = nxt
    assert server.result is not None
    assert all(app.calls == 1 for app in apps.values())  # one fit each (metrics are off)
    decoded = SPEC.decode_sum(server.result, dim=DIM, contributors=3)
    np.testing.assert_allclose(decoded.mean, 0.1, atol=2 * 2 / SPEC.levels)
