"""RoundDriver unit tests: fake links, scripted silos and an injected clock, no transport.

The silos here answer on the event loop as soon as the driver sends them something, so every
round runs in milliseconds. The driver reads time only from its injected clock: a silent silo
times out because the test moves that clock past the deadline, not because anyone waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.errors import RoundAbortedError
from fedseal.protocol import control as c
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.identity import IdentityKey
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.driver import DriverConfig, RoundDriver
from fedseal.server.events import Received
from fedseal.server.state import ServerState
from fedseal.server.strategy import FedAvg, FedProx

DIM = 4
SPEC = QuantizationSpec(clip=1.0, bits=16, max_weight=10, max_silos=5, num_metrics=0)
SILOS = ("a", "b", "c")
UPDATE = {"a": 0.1, "b": 0.2, "c": 0.3}
Behaviour = Callable[["FakeLink", Any], list[c.ToServer]]


def answer(link: FakeLink, message: Any) -> list[c.ToServer]:
    """An honest silo in ``aggregation = "none"``: encodes UPDATE[silo] with weight 1."""
    if not isinstance(message, c.TrainRequest):
        return []
    link.requests.append(message)
    vector = SPEC.encode(
        np.full(DIM, UPDATE[link.silo]), weight=1, rng=SeededRandomSource(link.silo.encode())
    )
    return [c.PlaintextInput("dep", message.round_id, link.silo, vector)]


def silent(link: FakeLink, message: Any) -> list[c.ToServer]:
    return []


class FakeLink:
    """A silo's link: what the driver sends goes to a scripted behaviour, answers come back."""

    def __init__(self, driver: RoundDriver, silo: str, behaviour: Behaviour) -> None:
        self.driver, self.silo, self.behaviour = driver, silo, behaviour
        self.sent: list[Any] = []
        self.requests: list[c.TrainRequest] = []
        self.closed: str | None = None

    def send(self, message: Any) -> None:
        self.sent.append(message)
        loop = asyncio.get_running_loop()
        for reply in self.behaviour(self, message):
            loop.call_soon(self.driver.received, self.silo, reply)

    def close(self, reason: str) -> None:
        self.closed = reason


def _driver(
    tmp_path: Path,
    *,
    clock: Callable[[], float] | None = None,
    strategy: FedAvg | None = None,
    rounds: int = 1,
    min_silos: int = 2,
    connect_timeout_s: float = 5.0,
) -> RoundDriver:
    config = DriverConfig(
        deployment_id="dep", rounds=rounds, min_silos=min_silos, aggregation="none",
        quantization=SPEC, train_timeout_s=5.0, stage_timeout_s=5.0,
        connect_timeout_s=connect_timeout_s,
    )  # fmt: skip
    return RoundDriver(
        config,
        directory={s: IdentityKey.generate().public_key for s in SILOS},
        strategy=strategy or FedAvg(np.zeros(DIM)),
        state=ServerState(tmp_path / "state", deployment_id="dep"),
        **({"clock": clock} if clock else {}),
    )


def _run(driver: RoundDriver, behaviours: dict[str, Behaviour]) -> tuple[Any, dict[str, FakeLink]]:
    async def main() -> Any:
        links = {s: FakeLink(driver, s, b) for s, b in behaviours.items()}
        for silo, link in links.items():
            driver.connected(silo, link)
        return await asyncio.wait_for(driver.run(), 10), links

    return asyncio.run(main())


def test_a_round_moves_the_model_by_the_mean_and_ends_with_finish(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    (summary,), links = _run(driver, dict.fromkeys(SILOS, answer))
    assert summary.completed and summary.survivors == SILOS and summary.dropouts == []
    np.testing.assert_allclose(driver.strategy.weights, np.full(DIM, 0.2), atol=1e-4)
    assert driver.state.completed == 1
    for link in links.values():
        assert isinstance(link.sent[-1], c.Finish)
        assert link.requests[0].digest() == summary.train_digest


def test_the_strategy_config_travels_in_the_train_request(tmp_path: Path) -> None:
    strategy = FedProx(np.zeros(DIM), proximal_mu=0.5, round_config={"lr": 0.01})
    (summary,), links = _run(_driver(tmp_path, strategy=strategy), dict.fromkeys(SILOS, answer))
    request = links["a"].requests[0]
    assert request.config == (("lr", 0.01), ("proximal_mu", 0.5))
    assert summary.train_digest == request.digest()
    other = c.TrainRequest("dep", request.round_id, request.weights, "none", SPEC, ())
    assert other.digest() != request.digest()  # the config is bound into what silos sign


def test_a_silent_silo_times_out_on_the_injected_clock(tmp_path: Path) -> None:
    now = [0.0]
    driver = _driver(tmp_path, clock=lambda: now[0])

    def silent_past_the_deadline(link: FakeLink, message: Any) -> list[c.ToServer]:
        if isinstance(message, c.TrainRequest):

            def later() -> None:  # after a's and b's answers: time passes, a reconnect wakes it
                now[0] += 3600.0
                link.driver.connected(link.silo, link)

            asyncio.get_running_loop().call_later(0.01, later)
        return []

    (summary,), _ = _run(driver, {"a": answer, "b": answer, "c": silent_past_the_deadline})
    assert summary.completed and summary.survivors == ("a", "b")
    assert summary.dropouts == [{"silo": "c", "stage": "train", "reason": "timed out"}]
    np.testing.assert_allclose(driver.strategy.weights, np.full(DIM, 0.15), atol=1e-4)


def test_abstentions_disconnects_and_late_answers(tmp_path: Path) -> None:
    def abstains(link: FakeLink, message: Any) -> list[c.ToServer]:
        if isinstance(message, c.TrainRequest):
            return [c.Abstain("dep", message.round_id, "b", "budget spent")]
        return []

    def late_then_gone(link: FakeLink, message: Any) -> list[c.ToServer]:
        if isinstance(message, c.TrainRequest):
            stale = answer(link, message)[0]
            old = c.PlaintextInput("dep", message.round_id - 1, "c", stale.vector)  # type: ignore[union-attr]
            asyncio.get_running_loop().call_soon(link.driver.received, "c", old)
            asyncio.get_running_loop().call_soon(link.driver.disconnected, "c", link)
        return []

    driver = _driver(tmp_path, connect_timeout_s=0.01)
    summaries: list[Any] = []
    driver._on_round = summaries.append
    with pytest.raises(RoundAbortedError):
        _run(driver, {"a": answer, "b": abstains, "c": late_then_gone})
    summary = summaries[0]
    assert summary.completed is False  # one silo ready: below min_participants 2
    assert {(d["silo"], d["reason"]) for d in summary.dropouts} == {
        ("b", "abstained: budget spent"),
        ("c", "disconnected"),
    }
    np.testing.assert_array_equal(driver.strategy.weights, np.zeros(DIM))  # model unchanged


def test_wrong_inputs_are_dropouts_and_rounds_give_up_after_three_attempts(
    tmp_path: Path,
) -> None:
    def wrong_shape(link: FakeLink, message: Any) -> list[c.ToServer]:
        if isinstance(message, c.TrainRequest):
            bad = np.zeros(3, dtype=SPEC.dtype)
            return [c.PlaintextInput("dep", message.round_id, link.silo, bad)]
        return []

    driver = _driver(tmp_path, min_silos=3)
    with pytest.raises(RoundAbortedError, match="too many rounds failed"):
        _run(driver, {"a": answer, "b": answer, "c": wrong_shape})
    assert driver.state.completed == 0 and driver.state.last_round == 3


def test_collect_takes_each_silos_answer_once_and_skips_stragglers() -> None:
    from fedseal.protocol.round_events import Collect, Connected, Gone, Received

    events = [
        Connected("a"),
        Received("a", c.TrainReady("dep", 6, "a")),  # a late answer to round 6
        Received("a", c.TrainReady("dep", 7, "a")),  # this round, but not the awaited kind
        Received("a", c.CheckpointCosign("dep", 7, "a", bytes(64))),
        Received("a", c.CheckpointCosign("dep", 7, "a", bytes(64))),  # a second answer
        Received("x", c.CheckpointCosign("dep", 7, "x", bytes(64))),  # not asked
        Gone("b", "disconnected"),
        None,  # the deadline
    ]
    collect = Collect(
        7, ["a", "b", "c"], deadline=1.0, departed={},
        answers=lambda msg: isinstance(msg, c.CheckpointCosign),
    )  # fmt: skip
    got = [answer for event in events if (answer := collect.offer(event)) is not None]
    assert [(s, type(msg).__name__) for s, msg in got] == [("a", "CheckpointCosign")]
    assert collect.take_missing() == [("b", "disconnected"), ("c", "timed out")]
    assert collect.done and collect.take_missing() == []


def test_below_min_participants_it_keeps_waiting_and_names_the_missing_silos(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13: the server used to exit after connect_timeout_s; now it waits and reports,
    and stops only after connect_give_up_s (if set), naming who never came."""
    import itertools

    ticks = itertools.count(0.0, 10.0)  # every clock reading is 10 s later
    driver = _driver(tmp_path, clock=lambda: next(ticks), min_silos=2, connect_timeout_s=0.0)
    driver.config = DriverConfig(**{**driver.config.__dict__, "connect_give_up_s": 100.0})
    with (
        caplog.at_level("WARNING", logger="fedseal.server"),
        pytest.raises(RoundAbortedError, match="missing: b, c"),
    ):
        _run(driver, {"a": answer})
    waits = [r.getMessage() for r in caplog.records if "waiting for silos" in r.getMessage()]
    assert len(waits) >= 2 and all("missing: b, c" in w for w in waits)
    assert driver.state.last_round == 0  # no round id was spent


def test_more_rounds_continue_from_the_saved_model_and_round_ids(tmp_path: Path) -> None:
    """Issue 13: resuming and "more rounds" (raise rounds, restart) are what a restart does."""
    first = _driver(tmp_path, rounds=1)
    (one,), _ = _run(first, dict.fromkeys(SILOS, answer))
    again = _driver(tmp_path, rounds=1)  # a finished deployment: nothing more to do
    assert _run(again, dict.fromkeys(SILOS, answer))[0] == []
    more = _driver(
        tmp_path,
        rounds=2,
        strategy=FedAvg(again.state.load_model()),  # type: ignore[arg-type]
    )
    (two,), _ = _run(more, dict.fromkeys(SILOS, answer))
    assert (one.round_id, two.round_id) == (1, 2) and more.state.completed == 2
    np.testing.assert_allclose(more.strategy.weights, np.full(DIM, 0.4), atol=1e-4)


def test_a_silo_that_stays_away_is_waited_for_once_not_every_round(tmp_path: Path) -> None:
    """Issue 15: an offline admitted silo used to delay every round by connect_timeout_s."""
    driver = _driver(tmp_path, rounds=3, connect_timeout_s=0.05)
    original = driver._next_event
    waits: list[float] = []

    async def counting(deadline: float) -> Any:
        event = await original(deadline)
        if event is None:
            waits.append(deadline)
        return event

    driver._next_event = counting  # type: ignore[method-assign]
    summaries, _ = _run(driver, {"a": answer, "b": answer})  # c never connects
    assert [s.completed for s in summaries] == [True, True, True]
    assert len(waits) == 1  # only before the first round


def test_the_driver_calls_on_taken_when_it_takes_a_message_from_its_queue(tmp_path: Path) -> None:
    # The transport gives back a large message's reassembly budget there (server/backpressure):
    # a message still waiting in the queue keeps its share.
    driver = _driver(tmp_path)
    calls: list[str] = []

    async def main() -> None:
        driver.received("a", c.TrainReady("dep", 1, "a"), lambda: calls.append("a"))
        driver.received("b", c.TrainReady("dep", 1, "b"))  # small: no budget, no callback
        assert calls == []
        first = await driver._next_event(driver._clock() + 5)
        assert isinstance(first, Received) and first.silo == "a" and calls == ["a"]
        second = await driver._next_event(driver._clock() + 5)
        assert isinstance(second, Received) and second.on_taken is None and calls == ["a"]

    asyncio.run(main())
