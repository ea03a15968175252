"""The coordinator's sans-IO round control: its phase table, its train and attest phases, and
h11's rule that an exception leaves only the terminal state. The aggregation mode is a fake
here; the real ones run under the driver in tests/server and tests/simulation."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fedseal.audit import events as ev
from fedseal.errors import ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.round_control import TRANSITIONS, Phase, RoundControl, RoundScope
from fedseal.protocol.round_events import Connected, Event, Gone, Received, Record, Step, Work
from fedseal.secagg.quantize import QuantizationSpec

DEP, ROUND = "dep", 4
SILOS = ("a", "b", "c")


class FakeMode:
    """Ready on TrainReady (or through work, for 'slow' silos); finishes at its first event."""

    def __init__(self, *, work_for: frozenset[str] = frozenset(), fail: bool = False) -> None:
        self.culprits: dict[str, str] = {}
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self.survivors: tuple[str, ...] = ()
        self.started: tuple[str, ...] | None = None
        self._work_for, self._fail = work_for, fail

    @property
    def finished(self) -> bool:
        return self.result is not None or self.abort_reason is not None

    @property
    def deadline(self) -> float:
        return 50.0

    def accept(self, silo: str, message: c.ToServer) -> str | Work | None:
        if silo in self._work_for:
            return Work(("check", silo), lambda: None if silo != "c" else "bad proof")
        return None if isinstance(message, c.TrainReady) else "unexpected"

    def start(self, ready: tuple[str, ...], now: float) -> Step:
        self.started = ready
        return Step(records=[ev_record("round_started")], send=[(s, "begin") for s in ready])

    def handle(self, event: Event | None, now: float) -> Step:
        if self._fail:
            raise RuntimeError("mode bug")
        self.survivors = self.started or ()
        self.result = np.zeros(3, np.uint32)
        return Step()

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        raise AssertionError("no work in the aggregation phase")


def ev_record(name: str) -> Record:
    return Record(name)


def _request() -> c.TrainRequest:
    spec = QuantizationSpec(clip=1.0, bits=16, max_weight=1, max_silos=3)
    return c.TrainRequest(DEP, ROUND, np.zeros(3), "masking", spec, ())


def _control(mode: FakeMode | None = None, min_silos: int = 2) -> RoundControl:
    return RoundControl(
        RoundScope(ROUND), SILOS, mode or FakeMode(), min_silos=min_silos,
        train_timeout_s=10.0, checkpoint_timeout_s=5.0,
    )  # fmt: skip


def _ready(silo: str, round_id: int = ROUND) -> Received:
    return Received(silo, c.TrainReady(DEP, round_id, silo))


def test_the_request_goes_to_every_participant_as_one_object_and_the_deadline_is_set() -> None:
    control, request = _control(), _request()
    step = control.start(request, now=100.0)
    assert [s for s, _ in step.send] == list(SILOS)
    assert all(msg is request for _, msg in step.send)
    assert control.phase is Phase.TRAIN and control.waiting and control.deadline == 110.0


def test_train_phase_drops_abstainers_refusals_and_the_silent_then_aggregates() -> None:
    mode = FakeMode()
    control = _control(mode)
    control.start(_request(), 0.0)
    abstain = control.handle(Received("a", c.Abstain(DEP, ROUND, "a", "no data")), 1.0)
    assert [r.details for r in abstain.records] == [
        {"silo": "a", "stage": "train", "reason": "abstained: no data"}
    ]
    # Stragglers and strangers change nothing.
    for event in (_ready("b", ROUND - 1), _ready("x"), Connected("b")):
        assert control.handle(event, 2.0) == Step()
    assert control.handle(_ready("b"), 3.0) == Step()
    step = control.handle(None, 10.0)  # c timed out
    assert step.records[0].event == ev.DROPOUT
    assert step.records[0].details == {"silo": "c", "stage": "train", "reason": "timed out"}
    # Below min_silos (2): one ready silo fails the round; here it does, so FAILED.
    assert control.phase is Phase.FAILED
    assert control.reason == "only 1 silos ready; min_participants is 2"
    assert control.ready == ("b",) and mode.started is None


def test_records_come_before_the_messages_they_explain() -> None:
    control = _control(min_silos=1)
    control.start(_request(), 0.0)
    control.handle(_ready("a"), 1.0)
    control.handle(Gone("b", "disconnected"), 1.0)
    step = control.handle(_ready("c"), 1.0)
    # One step: b's dropout was audited when it went; the round's start record precedes sends.
    assert control.phase is Phase.AGGREGATE and control.ready == ("a", "c")
    assert [r.event for r in step.records] == ["round_started"]
    assert step.send == [("a", "begin"), ("c", "begin")]
    assert control.scope.dropouts == [{"silo": "b", "stage": "train", "reason": "disconnected"}]


def test_accept_work_is_handed_out_and_its_verdict_decides() -> None:
    mode = FakeMode(work_for=frozenset({"b", "c"}))
    control = _control(mode, min_silos=2)
    control.start(_request(), 0.0)
    control.handle(_ready("a"), 1.0)
    step = control.handle(_ready("b"), 1.0)
    assert [w.key for w in step.work] == [("accept", "b")] and step.work[0].offload
    control.computed(("accept", "b"), step.work[0].run(), 1.5)
    step = control.handle(_ready("c"), 2.0)
    assert control.phase is Phase.TRAIN  # c's answer is still being checked
    control.computed(("accept", "c"), step.work[0].run(), 2.5)
    assert control.ready == ("a", "b") and control.phase is Phase.AGGREGATE
    assert control.scope.dropouts[-1] == {"silo": "c", "stage": "train", "reason": "bad proof"}


def test_attest_records_each_cosign_as_pump_work_and_ends_after_the_last() -> None:
    control = _control(min_silos=1)
    control.start(_request(), 0.0)
    for silo in SILOS:
        control.handle(_ready(silo), 1.0)
    control.handle(_ready("a"), 2.0)  # the fake mode finishes at its first event
    assert control.phase is Phase.RELEASE and not control.waiting
    recorded: list[str] = []
    request = c.CheckpointRequest(DEP, ROUND, b"{}")
    step = control.attest(request, lambda s, m: recorded.append(s), frozenset({"a", "b"}), 10.0)
    assert [s for s, _ in step.send] == ["a", "b"]  # c is not connected: not asked
    cosign = c.CheckpointCosign(DEP, ROUND, "a", bytes(64))
    step = control.handle(Received("a", cosign), 11.0)
    assert [(w.key, w.offload) for w in step.work] == [(("cosign", "a"), False)]
    step.work[0].run()
    control.computed(("cosign", "a"), None, 11.0)
    assert control.phase is Phase.ATTEST
    control.handle(None, 15.0)  # b stays silent
    assert control.phase is Phase.DONE and control.silent == ["b"] and recorded == ["a"]


def test_the_phase_ends_only_once_the_last_cosign_is_recorded() -> None:
    control = _control(min_silos=1)
    control.start(_request(), 0.0)
    for silo in SILOS:
        control.handle(_ready(silo), 1.0)
    control.handle(None, 2.0)
    control.attest(c.CheckpointRequest(DEP, ROUND, b"{}"), lambda s, m: None,
                   frozenset({"a"}), 10.0)  # fmt: skip
    control.handle(Received("a", c.CheckpointCosign(DEP, ROUND, "a", bytes(64))), 11.0)
    assert control.phase is Phase.ATTEST and control.waiting is True
    control.computed(("cosign", "a"), None, 11.0)
    assert control.phase is Phase.DONE


def test_an_exception_in_the_mode_leaves_the_round_failed_and_nothing_more_is_taken() -> None:
    control = _control(FakeMode(fail=True), min_silos=1)
    control.start(_request(), 0.0)
    for silo in SILOS:
        control.handle(_ready(silo), 1.0)
    with pytest.raises(RuntimeError, match="mode bug"):
        control.handle(_ready("a"), 2.0)
    assert control.phase is Phase.FAILED
    with pytest.raises(ProtocolViolation, match="round is over"):
        control.handle(None, 3.0)


def test_work_failing_in_the_train_phase_fails_the_round() -> None:
    control = _control(FakeMode(work_for=frozenset({"a"})))
    control.start(_request(), 0.0)
    control.handle(_ready("a"), 1.0)
    with pytest.raises(ValueError, match="broken"):
        control.computed(("accept", "a"), ValueError("broken"), 1.0)
    assert control.phase is Phase.FAILED


@pytest.mark.parametrize("phase", list(Phase))
def test_every_move_outside_the_table_is_refused_and_changes_nothing(phase: Phase) -> None:
    for target in Phase:
        control = _control()
        control.phase = phase
        if target in TRANSITIONS[phase]:
            control._move(target)
            assert control.phase is target
        else:
            with pytest.raises(ProtocolViolation, match="cannot go"):
                control._move(target)
            assert control.phase is phase


def test_unknown_work_and_events_after_the_end_are_refused() -> None:
    control = _control()
    control.start(_request(), 0.0)
    with pytest.raises(ProtocolViolation, match="work"):
        control.computed(("cosign", "a"), None, 1.0)
    assert control.phase is Phase.FAILED
    done = _control()
    done.phase = Phase.RELEASE
    done.finish()
    assert done.phase is Phase.DONE
    with pytest.raises(ProtocolViolation):
        done.computed(("accept", "a"), None, 0.0)
