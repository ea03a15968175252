"""The silo's durable once-per-model rule: ``released-models.json`` and the agent that obeys it.

A silo answers an unmask request at most once per model digest; otherwise a server could
difference sums over several rounds on one model (``fedseal.protocol.release``).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.client.agent import SiloAgent
from fedseal.client.released import FileReleaseLedger
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.release import model_digest
from fedseal.protocol.server import ServerSession
from fedseal.secagg.identity import IdentityKey
from fedseal.secagg.quantize import QuantizationSpec

DEP = "dep-ledger"
DIM = 4
SPEC = QuantizationSpec(clip=1.0, bits=12, max_weight=100, max_silos=8, num_metrics=2)
Vector = npt.NDArray[np.float64]


def _digest(i: int) -> bytes:
    return model_digest(np.full(DIM, float(i)))


# -- the ledger file ----------------------------------------------------------------------------


def test_a_recorded_model_is_seen_by_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "released-models.json"
    ledger = FileReleaseLedger(path)
    assert not path.exists()  # created on the first answer only
    assert not ledger.released(_digest(1))
    ledger.record(_digest(1))
    ledger.record(_digest(2))
    ledger.record(_digest(1))  # recording twice is harmless
    assert ledger.released(_digest(1))
    reopened = FileReleaseLedger(path)  # a restarted silo
    assert reopened.released(_digest(1)) and reopened.released(_digest(2))
    assert not reopened.released(_digest(3))
    assert len(json.loads(path.read_text())["models"]) == 2


def test_the_ledger_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "released-models.json"
    FileReleaseLedger(path).record(_digest(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"null",
        b"[]",
        b'{"other": []}',
        b'{"models": "' + b"ab" * 32 + b'"}',
        b'{"models": [1]}',
        b'{"models": ["abc"]}',
        b'{"models": ["' + b"zz" * 32 + b'"]}',
    ],
    ids=[
        "empty",
        "truncated",
        "not-utf8",
        "null",
        "list",
        "no-models",
        "string",
        "number",
        "short-hex",
        "not-hex",
    ],
)
def test_a_damaged_ledger_refuses_to_load_and_names_the_file(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "released-models.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="damaged") as info:
        FileReleaseLedger(path)
    assert str(path) in str(info.value)


def test_a_silo_with_a_damaged_ledger_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "silo-a").mkdir()
    (tmp_path / "silo-a" / "released-models.json").write_text("{")
    with pytest.raises(ConfigError, match=r"released-models\.json"):
        _agents(tmp_path)


# -- the agent ----------------------------------------------------------------------------------


class ShiftApp:
    """Adds a constant to the weights, with ``n`` examples."""

    def __init__(self, shift: float, n: int) -> None:
        self.shift, self.n = shift, n

    def get_weights(self) -> Vector:
        return np.zeros(DIM)

    def fit(
        self, weights: Vector, config: Mapping[str, Any]
    ) -> tuple[Vector, int, dict[str, float]]:
        return weights + self.shift, self.n, {}

    def evaluate(
        self, weights: Vector, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        return 0.25, self.n, {"accuracy": 0.5}


NAMES = ("silo-a", "silo-b", "silo-c")
KEYS = {s: IdentityKey.generate() for s in NAMES}


def _agents(
    state: Path,
    *,
    audit: AuditLog | None = None,
) -> dict[str, SiloAgent]:
    """Three silos' agents, each with its state directory under ``state``; silo-a audits."""
    directory = {s: k.public_key for s, k in KEYS.items()}
    policy = ClientPolicy(roster_size=len(NAMES), min_participants=3)
    return {
        s: SiloAgent(
            silo=s,
            deployment_id=DEP,
            identity_key=KEYS[s],
            directory=directory,
            server_identity=IdentityKey.generate().public_key,
            app=ShiftApp(0.1 * (i + 1), 10 + i),
            state_dir=state / s,
            audit=audit if i == 0 else None,
            policy=policy,
            fedavg_weight=10 + i,  # declared, as the app's example count
        )
        for i, s in enumerate(NAMES)
    }


def _train(agent: SiloAgent, round_id: int, weights: Vector) -> c.ToServer:
    replies, finished = agent.handle(c.TrainRequest(DEP, round_id, weights, "masking", SPEC))
    assert not finished and len(replies) == 1
    return replies[0]


def test_the_agent_abstains_on_a_model_it_already_released(tmp_path: Path) -> None:
    weights = np.full(DIM, 0.5)
    with AuditLog(tmp_path / "audit.jsonl", party="silo-a") as audit:
        agent = _agents(tmp_path, audit=audit)["silo-a"]
        assert isinstance(_train(agent, 1, weights), c.TrainReady)
        agent._releases.record(model_digest(weights))  # as if it had answered round 1's unmask
        answer = _train(agent, 2, weights)
        assert isinstance(answer, c.Abstain) and answer.round_id == 2
        assert "already helped unmask" in answer.reason
        assert agent.last_round == 1  # refused before the round was joined
        # Another model is fine: the rule is per model, not per silo.
        assert isinstance(_train(agent, 3, weights + 1.0), c.TrainReady)
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    refused = [e for e in entries if e["event"] == ev.ROUND_STARTED]
    assert [(e["round"], e["outcome"]) for e in refused] == [(2, ev.REFUSED)]
    assert refused[0]["details"]["reason"] == "model already released"


def _secure_round(
    agents: dict[str, SiloAgent], round_id: int, weights: Vector
) -> npt.NDArray[Any] | None:
    """Train, then pump one SecAgg round between a real ServerSession and the agents."""
    request = c.TrainRequest(DEP, round_id, weights, "masking", SPEC)
    for agent in agents.values():
        (ready,), _ = agent.handle(request)
        assert isinstance(ready, c.TrainReady), ready
    n = len(agents)
    graph = ClientPolicy().required(n, roster_size=n)
    params = m.RoundParams(
        DEP, round_id, tuple(sorted(agents)), graph.kind, graph.k, graph.threshold,
        SPEC.encoded_length(DIM), SPEC.modulus_bits,
    )  # fmt: skip
    directory = {s: KEYS[s].public_key for s in agents}
    server = ServerSession(params, directory, train_digest=request.digest())
    outbox = server.start()
    for _ in range(10):  # five stages; bounded
        if server.finished:
            break
        nxt = []
        for silo, message in outbox:
            replies, _ = agents[silo].handle(message)  # type: ignore[arg-type]
            for reply in replies:
                nxt.extend(server.receive(silo, reply))  # type: ignore[arg-type]
        outbox = nxt
    assert server.finished
    return server.result


def test_after_a_real_unmask_every_silo_abstains_on_that_model_even_after_a_restart(
    tmp_path: Path,
) -> None:
    agents = _agents(tmp_path)
    weights = np.zeros(DIM)
    total = _secure_round(agents, 1, weights)
    assert total is not None
    decoded = SPEC.decode_sum(total, dim=DIM, contributors=3)
    expected = (10 * 0.1 + 11 * 0.2 + 12 * 0.3) / 33
    np.testing.assert_allclose(decoded.mean, expected, atol=2 * 2 / SPEC.levels)
    for silo in agents:
        saved = json.loads((tmp_path / silo / "released-models.json").read_text())
        assert saved == {"models": [model_digest(weights).hex()]}
    # Round 2 on the same model: refused by every silo, before anything is trained.
    for agent in agents.values():
        answer = _train(agent, 2, weights)
        assert isinstance(answer, c.Abstain) and "already helped unmask" in answer.reason
    # The same silos restarted from their state directories still refuse it.
    restarted = _agents(tmp_path)
    answer = _train(restarted["silo-b"], 3, weights)
    assert isinstance(answer, c.Abstain) and "already helped unmask" in answer.reason
    # The next model is a fresh start: the round completes.
    assert _secure_round(restarted, 4, weights + decoded.mean) is not None


def test_a_round_aborted_before_unmasking_released_nothing(tmp_path: Path) -> None:
    agents = _agents(tmp_path)
    weights = np.zeros(DIM)
    for agent in agents.values():
        assert isinstance(_train(agent, 1, weights), c.TrainReady)
        replies, _ = agent.handle(m.AbortRound(DEP, 1, "server gave up"))
        assert replies == []
        assert not (tmp_path / agent.silo / "released-models.json").exists()
    assert _secure_round(agents, 2, weights) is not None  # an honest retry on the same model
