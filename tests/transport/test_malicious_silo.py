"""One malicious silo in a real mTLS deployment: it cannot steer the model, nor stall a round.

- A silo that inflates its encoded contribution past the quantization range (the masks hide
  it until the sum is decoded) gets the whole aggregate rejected: audited, and the model is
  not moved.
- A silo that reveals shares not matching their dealers' commitments is excluded by name; the
  round completes from the honest shares and the silo is left out of later rounds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import fedseal.client.masking_silo as masking_module
from fedseal.audit import events as ev
from fedseal.client.agent import SiloAgent
from fedseal.errors import RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientSession
from fedseal.secagg.hazmat import shamir

from .conftest import DIM, Deployment, ServerThread, SiloThread, make_deployment

Vector = npt.NDArray[Any]


def _entries(dep: Deployment) -> list[dict[str, Any]]:
    lines = dep.server.audit_log.read_text().splitlines()
    return [json.loads(line) for line in lines]


def _step(dep: Deployment) -> float:
    return float(2 * dep.server.clip / (2**dep.server.bits))


# -- an inflated contribution -------------------------------------------------------------------


def _inflate_update(encoded: Vector, max_weight: int) -> Vector:
    out = encoded.copy()
    out[:DIM] *= 100  # far past w * levels, still far below 2^32: no wrap-around hides it
    return out


def _inflate_weight(encoded: Vector, max_weight: int) -> Vector:
    out = encoded.copy()
    out[DIM] = 10 * max_weight  # the weight coordinate: more than all contributors can carry
    return out


def _inflating_session(cheat: str, tamper: Callable[[Vector], Vector]) -> type[ClientSession]:
    """A ClientSession that masks ``tamper(input)`` for ``cheat`` from its second round on."""
    rounds = [0]

    class Inflating(ClientSession):
        def provide_input(self, encoded: Vector) -> None:
            if self.silo_id == cheat:
                rounds[0] += 1
                if rounds[0] >= 2:
                    encoded = tamper(encoded)
            super().provide_input(encoded)

    return Inflating


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_inflate_update, "coordinate 0 decodes to"),
        (_inflate_weight, "exceeds 3 contributors * max_weight"),
    ],
    ids=["update-x100", "weight-x10-max"],
)
def test_an_inflated_contribution_is_rejected_and_the_model_does_not_move(
    tmp_path: Path,
    names: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tamper: Callable[[Vector, int], Vector],
    why: str,
) -> None:
    silos = names[:3]
    cheat = silos[1]
    dep = make_deployment(tmp_path, silos, server={"rounds": 2})
    max_weight = dep.server.max_weight
    # The masking mode builds its session from this module name; only `cheat` is affected.
    monkeypatch.setattr(
        masking_module,
        "ClientSession",
        _inflating_session(cheat, lambda v: tamper(v, max_weight)),
    )
    server = ServerThread(dep).start()
    threads = [SiloThread(dep, n, give_up_after_s=2.0).start() for n in silos]
    server.join()
    for t in threads:
        t.join()

    first, rejected = dep.summaries  # the server stops right after the rejection
    assert first.completed, first.reason
    assert not rejected.completed
    assert rejected.reason is not None and "aggregate rejected" in rejected.reason
    assert why in rejected.reason
    assert rejected.survivors == tuple(silos)  # not a dropout: the sum itself is refused
    # The model stays where round 1 left it: in memory, on disk and in the server's state.
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    np.testing.assert_allclose(model, dep.expected_mean(tuple(silos)), atol=4 * _step(dep))
    state = json.loads((dep.server.state_dir / "server-state.json").read_text())
    assert state["completed_rounds"] == 1
    # The rejected sum was unmasked, so every silo has answered once on that model and no
    # later round could complete on it: the server halts at once, saying why.
    assert isinstance(server.error, RoundAbortedError)
    assert "integrity check" in str(server.error) and "new model" in str(server.error)

    entries = _entries(dep)
    (rejection,) = [e for e in entries if e["event"] == ev.AGGREGATE_REJECTED]
    assert rejection["round"] == rejected.round_id and rejection["outcome"] == ev.FAILURE
    assert rejection["details"]["silos_count"] == 3 and why in rejection["details"]["reason"]
    released = [e["round"] for e in entries if e["event"] == ev.AGGREGATE_RELEASED]
    assert released == [first.round_id]
    (finished,) = [
        e for e in entries if e["event"] == ev.ROUND_FINISHED and e["round"] == rejected.round_id
    ]
    assert finished["outcome"] == ev.FAILURE
    assert "aggregate rejected" in finished["details"]["reason"]


# -- a wrong share revealed at unmasking --------------------------------------------------------


def _flip(data: bytes) -> bytes:
    value = (int.from_bytes(data, "big") + 1) % shamir.PRIME
    return value.to_bytes(len(data), "big")


class WrongShares(SiloAgent):
    """Honest until unmasking; then every seed share it reveals is off by one."""

    def handle(self, message: Any) -> Any:
        replies, finished = super().handle(message)
        replies = [
            dataclasses.replace(r, seed_shares=tuple((o, _flip(d)) for o, d in r.seed_shares))
            if isinstance(r, m.UnmaskResponse)
            else r
            for r in replies
        ]
        return replies, finished


def test_a_silo_revealing_wrong_shares_is_excluded_and_the_sum_stays_exact(
    tmp_path: Path,
) -> None:
    # Five silos, complete graph, t = 4: the four honest holders of each seed suffice.
    silos = [f"hospital-{c}" for c in "abcde"]
    liar = silos[2]
    honest = tuple(s for s in silos if s != liar)
    dep = make_deployment(tmp_path, silos, server={"rounds": 2})
    server = ServerThread(dep).start()
    threads = [
        SiloThread(dep, n, agent_type=WrongShares if n == liar else SiloAgent).start()
        for n in silos
    ]
    server.join()
    assert server.error is None
    for t in threads:
        t.join()
        assert t.status == 0 and t.error is None

    first, second = dep.summaries
    assert first.completed, first.reason
    assert first.survivors == tuple(silos)  # its masked input is in the sum; its shares are not
    (dropout,) = first.dropouts
    assert dropout["silo"] == liar and dropout["stage"] == "unmask"
    assert "fails its commitment" in dropout["reason"]
    assert second.completed, second.reason
    assert second.participants == honest and second.survivors == honest
    # Round 1 is the exact weighted mean of all five; round 2 of the four honest silos.
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    expected = dep.expected_mean(tuple(silos)) + dep.expected_mean(honest)
    np.testing.assert_allclose(model, expected, atol=4 * _step(dep))

    entries = _entries(dep)
    (excluded,) = [e for e in entries if e["event"] == ev.SILO_EXCLUDED]
    assert excluded["round"] == first.round_id and excluded["outcome"] == ev.FAILURE
    assert excluded["details"]["silo"] == liar
    assert "fails its commitment" in excluded["details"]["reason"]
    started = {e["round"]: e["details"] for e in entries if e["event"] == ev.ROUND_STARTED}
    assert started[first.round_id]["participants"] == silos
    assert started[second.round_id]["participants"] == list(honest)
    assert started[second.round_id]["n"] == 4
    rounds = [json.loads(line) for line in (dep.server.state_dir / "rounds.jsonl").open()]
    assert [liar in r["participants"] for r in rounds] == [True, False]
