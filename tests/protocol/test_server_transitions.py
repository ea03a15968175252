"""Exhaustive (stage x message type) transitions of the server session (STYLE.md rule 8).

The server session never raises on a silo's input (``ServerSession.receive``): the message a
stage accepts is recorded; any other message from a silo the stage still waits for makes that
silo a dropout of the stage; anything from a silo it does not (or no longer) wait for, and
everything once the round is DONE or ABORTED, is ignored. For each illegal input the tests
check that the session's observable state changes by exactly that (one ``Dropout``, one silo
less to wait for) or not at all, what ``receive`` returns, and then finish the round to show
that the sum is still exact, or that the round aborts once fewer than ``t`` silos are left.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from fedseal.protocol import messages as m
from fedseal.protocol.server import Dropout, Outgoing, ServerSession, ServerStage

from .test_attacks import Harness
from .test_malicious_silo import _sum
from .test_transitions import MESSAGE_TYPES

STAGES = [
    ServerStage.ADVERTISE,
    ServerStage.SHARE,
    ServerStage.MASKED_INPUT,
    ServerStage.CONSISTENCY,
    ServerStage.UNMASK,
]
ACCEPTED = {
    ServerStage.ADVERTISE: m.AdvertiseKeys,
    ServerStage.SHARE: m.ShareKeys,
    ServerStage.MASKED_INPUT: m.MaskedInput,
    ServerStage.CONSISTENCY: m.ConsistencySignature,
    ServerStage.UNMASK: m.UnmaskResponse,
}
# The request that opens each stage, i.e. what the server sends when the previous one closes.
REQUEST = {
    ServerStage.ADVERTISE: m.BeginRound,
    ServerStage.SHARE: m.KeyDirectory,
    ServerStage.MASKED_INPUT: m.ShareDelivery,
    ServerStage.CONSISTENCY: m.ConsistencyRequest,
    ServerStage.UNMASK: m.UnmaskRequest,
}
SILO = "silo-00"  # the silo whose input each test varies
STRANGER = "silo-99"  # not a participant, not in the deployment's directory
ANOTHER_ROUND = "protocol violation: message belongs to another round or deployment"
ALL = frozenset({"silo-00", "silo-01", "silo-02", "silo-03", "silo-04"})  # Harness(): n=5, t=4


def _stage_id(stage: ServerStage) -> str:
    return stage.value


def _kind_id(kind: type) -> str:
    return kind.__name__


def _reach(stage: ServerStage) -> Harness:
    """A fresh 5-silo round whose server collects the answers of ``stage`` (none arrived yet)."""
    h = Harness()
    while h.server.stage is not stage:
        h.step()
    assert not h.server.finished and h.server.waiting_for == ALL
    assert {type(msg) for _, msg in h.outbox} == {REQUEST[stage]}
    return h


def _answer(h: Harness, silo: str) -> Any:
    """The honest answer of ``silo``'s client to the request of the current stage (a Message)."""
    (answer,) = h.clients[silo].receive(h.to(silo))
    return answer


def _deliver(h: Harness, silos: list[str]) -> list[Outgoing]:
    """Hand the current request to ``silos`` and their answers to the server, in order."""
    out: list[Outgoing] = []
    for silo in silos:
        out += h.server.receive(silo, _answer(h, silo))
    return out


def _finish(h: Harness, handled: frozenset[str] = frozenset()) -> None:
    """Run the round to its end; ``handled`` silos get no request in the current stage."""
    h.step(skip=handled)
    while not h.server.finished:
        h.step()


def _observe(server: ServerSession) -> dict[str, Any]:
    """Everything a caller can see of the session (``result`` as dtype and bytes)."""
    result = server.result
    return {
        "stage": server.stage,
        "finished": server.finished,
        "waiting_for": server.waiting_for,
        "dropouts": list(server.dropouts),
        "culprits": dict(server.culprits),
        "abort_reason": server.abort_reason,
        "result": None if result is None else (result.dtype.str, result.tobytes()),
    }


def _dropped(before: dict[str, Any], silo: str, stage: ServerStage, reason: str) -> dict[str, Any]:
    """``before`` with ``silo`` made a dropout of ``stage``: the only change illegal input makes."""
    return {
        **before,
        "waiting_for": before["waiting_for"] - {silo},
        "dropouts": [*before["dropouts"], Dropout(silo, stage, reason)],
    }


def _contributors(stage: ServerStage, dropped: frozenset[str]) -> tuple[str, ...]:
    """Silos whose input is in the sum when ``dropped`` left the round at ``stage``."""
    if STAGES.index(stage) > STAGES.index(ServerStage.MASKED_INPUT):
        return tuple(sorted(ALL))  # their masked input was already added in
    return tuple(sorted(ALL - dropped))


def _assert_sum(h: Harness, contributors: tuple[str, ...]) -> None:
    assert h.server.stage is ServerStage.DONE and h.server.result is not None
    assert np.array_equal(h.server.result, _sum(h.inputs, contributors))


def _as_sender(message: Any, silo: str) -> Any:
    return replace(message, sender=silo) if hasattr(message, "sender") else message


@pytest.fixture(scope="module")
def sample() -> dict[type, Any]:
    """One genuine message of every type, from an honest round: what silo-00 sent or received.

    Everything carries this round's deployment and round id, and silo-00 as ``sender``.
    """
    h = Harness()
    out: dict[type, Any] = {m.AbortRound: m.AbortRound("dep-test", 1, "silo gives up")}
    while not h.server.finished:
        out[type(h.to(SILO))] = h.to(SILO)
        answer = _answer(h, SILO)
        out[type(answer)] = answer
        assert h.server.receive(SILO, answer) == []
        h.step(skip=frozenset({SILO}))
    assert h.server.result is not None
    assert set(out) == set(MESSAGE_TYPES)
    return out


# -- a participant's message, at every stage ------------------------------------------------


@pytest.mark.parametrize("kind", MESSAGE_TYPES, ids=_kind_id)
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_a_participant_message_is_recorded_or_drops_its_sender(
    stage: ServerStage, kind: type, sample: dict[type, Any]
) -> None:
    h = _reach(stage)
    before = _observe(h.server)
    accepted = kind is ACCEPTED[stage]
    message = _answer(h, SILO) if accepted else sample[kind]
    assert h.server.receive(SILO, message) == []  # four other silos are still awaited
    if accepted:
        assert _observe(h.server) == {**before, "waiting_for": ALL - {SILO}}
        dropouts: list[Dropout] = []
    else:
        if kind is m.AbortRound:
            reason = "silo abandoned the round: silo gives up"
        else:
            reason = f"protocol violation: unexpected {kind.__name__}"
        dropouts = [Dropout(SILO, stage, reason)]
        assert _observe(h.server) == _dropped(before, SILO, stage, reason)
    # Whatever the outcome, the silo is not heard again in this stage: not even its honest answer.
    again = _observe(h.server)
    retry = message if accepted else _answer(h, SILO)
    assert h.server.receive(SILO, retry) == []
    assert _observe(h.server) == again
    _finish(h, frozenset({SILO}))
    assert h.server.stage is ServerStage.DONE
    assert h.server.dropouts == dropouts and h.server.culprits == {}
    left = frozenset() if accepted else frozenset({SILO})
    _assert_sum(h, _contributors(stage, left))


def test_the_accepted_messages_move_exactly_one_stage() -> None:
    h = Harness()
    for stage, following in zip(STAGES, [*STAGES[1:], ServerStage.DONE], strict=True):
        assert h.server.stage is stage
        assert [(s, type(msg)) for s, msg in h.outbox] == [(s, REQUEST[stage]) for s in sorted(ALL)]
        assert _deliver(h, sorted(ALL - {"silo-04"})) == []
        assert h.server.stage is stage and h.server.waiting_for == {"silo-04"}
        h.outbox = _deliver(h, ["silo-04"])  # the last awaited answer closes the stage
        assert h.server.stage is following
    assert h.outbox == [] and h.server.dropouts == [] and h.server.abort_reason is None
    _assert_sum(h, tuple(sorted(ALL)))


# -- the accepted type, from the wrong round, deployment or sender ----------------------------

WRONG_CONTEXT: dict[str, tuple[dict[str, Any], str]] = {
    "older-round": ({"round_id": 0}, ANOTHER_ROUND),
    "newer-round": ({"round_id": 2}, ANOTHER_ROUND),
    "other-deployment": ({"deployment_id": "dep-other"}, ANOTHER_ROUND),
    "forged-sender": (
        {"sender": "silo-01"},
        "protocol violation: sender field does not match the authenticated silo",
    ),
}


@pytest.mark.parametrize("change", list(WRONG_CONTEXT))
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_the_accepted_type_out_of_context_drops_its_sender_and_nothing_else(
    stage: ServerStage, change: str
) -> None:
    fields, reason = WRONG_CONTEXT[change]
    h = _reach(stage)
    honest = _answer(h, SILO)
    before = _observe(h.server)
    assert h.server.receive(SILO, replace(honest, **fields)) == []
    assert _observe(h.server) == _dropped(before, SILO, stage, reason)
    # A dropped silo cannot come back, even with its honest answer.
    dropped = _observe(h.server)
    assert h.server.receive(SILO, honest) == []
    assert _observe(h.server) == dropped
    _finish(h, frozenset({SILO}))
    assert h.server.dropouts == [Dropout(SILO, stage, reason)] and h.server.culprits == {}
    _assert_sum(h, _contributors(stage, frozenset({SILO})))


ABORT_ELSEWHERE: dict[str, dict[str, Any]] = {
    "older-round": {"round_id": 0},
    "other-deployment": {"deployment_id": "x"},
}


@pytest.mark.parametrize("change", list(ABORT_ELSEWHERE))
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_an_abort_of_another_round_drops_its_sender_and_nothing_else(
    stage: ServerStage, change: str, sample: dict[type, Any]
) -> None:
    # An abort addressed to another round or deployment is refused like any such message:
    # its sender becomes a dropout of this stage and the round goes on without it.
    h = _reach(stage)
    before = _observe(h.server)
    stale = replace(sample[m.AbortRound], **ABORT_ELSEWHERE[change])
    assert h.server.receive(SILO, stale) == []
    after = _observe(h.server)
    (dropout,) = after["dropouts"]
    assert (dropout.silo, dropout.stage) == (SILO, stage)
    assert after == _dropped(before, SILO, stage, dropout.reason)
    _finish(h, frozenset({SILO}))
    _assert_sum(h, _contributors(stage, frozenset({SILO})))


@pytest.mark.parametrize("change", list(ABORT_ELSEWHERE))
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_an_abort_of_another_round_is_refused_as_such(
    stage: ServerStage, change: str, sample: dict[type, Any]
) -> None:
    h = _reach(stage)
    before = _observe(h.server)
    stale = replace(sample[m.AbortRound], **ABORT_ELSEWHERE[change])
    h.server.receive(SILO, stale)
    assert _observe(h.server) == _dropped(before, SILO, stage, ANOTHER_ROUND)


# -- silos the stage does not wait for ----------------------------------------------------------


@pytest.mark.parametrize("kind", MESSAGE_TYPES, ids=_kind_id)
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
@pytest.mark.parametrize("outsider", ["stranger", "dropped-silo"])
def test_a_silo_the_stage_does_not_wait_for_is_ignored(
    stage: ServerStage, kind: type, outsider: str, sample: dict[type, Any]
) -> None:
    h = _reach(stage)
    gone: frozenset[str] = frozenset()
    if outsider == "stranger":
        sender = STRANGER
    else:  # silo-04 is dropped for an illegal message first
        sender, gone = "silo-04", frozenset({"silo-04"})
        h.server.receive(sender, m.BeginRound(h.params))
        assert sender not in h.server.waiting_for
    message = _as_sender(sample[kind], sender)
    if kind is ACCEPTED[stage] and outsider == "dropped-silo":
        message = _answer(h, sender)  # its honest answer, too late
    before = _observe(h.server)
    assert h.server.receive(sender, message) == []
    assert _observe(h.server) == before
    _finish(h, gone)
    assert [d.silo for d in h.server.dropouts] == sorted(gone)
    _assert_sum(h, _contributors(stage, gone))


def _second(first: Any, kind: type, sample: dict[type, Any]) -> Any:
    """A second message of ``kind`` from silo-00, after it sent ``first``."""
    if kind is not type(first):
        return sample[kind]
    if isinstance(first, m.MaskedInput):  # would shift the sum if it were added in
        return replace(first, vector=first.vector + np.uint32(1))
    return first


@pytest.mark.parametrize("kind", MESSAGE_TYPES, ids=_kind_id)
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_a_second_message_from_a_silo_that_answered_is_ignored(
    stage: ServerStage, kind: type, sample: dict[type, Any]
) -> None:
    h = _reach(stage)
    first = _answer(h, SILO)
    assert h.server.receive(SILO, first) == []
    before = _observe(h.server)
    assert h.server.receive(SILO, _second(first, kind, sample)) == []
    assert _observe(h.server) == before
    _finish(h, frozenset({SILO}))
    assert h.server.dropouts == [] and h.server.culprits == {}
    _assert_sum(h, tuple(sorted(ALL)))


# -- what illegal input makes the server send -----------------------------------------------------


@pytest.mark.parametrize("illegal", ["unexpected-type", "older-round"])
@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_illegal_input_from_the_last_awaited_silo_closes_the_stage_without_it(
    stage: ServerStage, illegal: str
) -> None:
    h = _reach(stage)
    others = sorted(ALL - {SILO})
    assert _deliver(h, others) == []
    assert h.server.stage is stage and h.server.waiting_for == {SILO}
    if illegal == "unexpected-type":
        message: Any = m.BeginRound(h.params)
        reason = "protocol violation: unexpected BeginRound"
    else:
        message, reason = replace(_answer(h, SILO), round_id=0), ANOTHER_ROUND
    out = h.server.receive(SILO, message)
    assert h.server.dropouts == [Dropout(SILO, stage, reason)]
    if stage is ServerStage.UNMASK:
        assert out == [] and h.server.stage is ServerStage.DONE
        _assert_sum(h, tuple(sorted(ALL)))
        return
    following = STAGES[STAGES.index(stage) + 1]
    assert h.server.stage is following and h.server.waiting_for == set(others)
    assert [(s, type(msg)) for s, msg in out] == [(s, REQUEST[following]) for s in others]
    h.outbox = out
    while not h.server.finished:
        h.step()
    _assert_sum(h, _contributors(stage, frozenset({SILO})))


@pytest.mark.parametrize("stage", STAGES, ids=_stage_id)
def test_illegal_input_leaving_fewer_than_t_silos_aborts_when_the_stage_closes(
    stage: ServerStage, sample: dict[type, Any]
) -> None:
    h = _reach(stage)
    before = _observe(h.server)
    assert h.server.receive("silo-03", m.BeginRound(h.params)) == []
    assert h.server.receive("silo-04", _as_sender(sample[m.AbortRound], "silo-04")) == []
    dropouts = [
        Dropout("silo-03", stage, "protocol violation: unexpected BeginRound"),
        Dropout("silo-04", stage, "silo abandoned the round: silo gives up"),
    ]
    # Only 3 < t = 4 silos are left, but the session still waits for them: it aborts only
    # when the stage closes, and nothing is released before.
    assert _observe(h.server) == {
        **before,
        "waiting_for": {"silo-00", "silo-01", "silo-02"},
        "dropouts": dropouts,
    }
    assert _deliver(h, ["silo-00", "silo-01"]) == []
    assert h.server.stage is stage
    out = _deliver(h, ["silo-02"])
    reason = h.server.abort_reason
    assert reason is not None and reason.startswith("only 3 silos ")
    assert reason.endswith(", the threshold is 4")
    notice = m.AbortRound("dep-test", 1, reason)
    assert out == [(s, notice) for s in ("silo-00", "silo-01", "silo-02")]
    assert h.server.stage is ServerStage.ABORTED and h.server.finished
    assert h.server.result is None and h.server.dropouts == dropouts and h.server.culprits == {}


# -- after the end ------------------------------------------------------------------------------

ENDINGS = ["done", *(f"aborted-at-{s.value}" for s in STAGES)]


def _ended(ending: str) -> Harness:
    """A round that completed, or aborted at a stage because silo-03 and silo-04 timed out."""
    if ending == "done":
        h = Harness()
        _finish(h)
        assert h.server.stage is ServerStage.DONE and h.server.result is not None
        return h
    stage = ServerStage(ending.removeprefix("aborted-at-"))
    h = _reach(stage)
    h.step(skip=frozenset({"silo-03", "silo-04"}))
    assert h.server.stage is ServerStage.ABORTED and h.server.result is None
    assert [(d.silo, d.stage) for d in h.server.dropouts] == [
        ("silo-03", stage),
        ("silo-04", stage),
    ]
    assert all(isinstance(msg, m.AbortRound) for _, msg in h.outbox)
    return h


@pytest.mark.parametrize("kind", MESSAGE_TYPES, ids=_kind_id)
@pytest.mark.parametrize("ending", ENDINGS)
def test_after_the_end_every_message_is_ignored(
    ending: str, kind: type, sample: dict[type, Any]
) -> None:
    h = _ended(ending)
    result = h.server.result
    before = _observe(h.server)
    for sender in [*sorted(ALL), STRANGER]:
        assert h.server.receive(sender, _as_sender(sample[kind], sender)) == []
        assert _observe(h.server) == before
    assert h.server.close_stage() == []
    assert _observe(h.server) == before
    assert h.server.result is result  # the very same array, not overwritten in place either


def test_an_unexpected_exception_in_a_handler_ends_the_round(sample: dict[type, Any]) -> None:
    """h11's rule: a failure the session has no refusal for puts it in its terminal state."""
    h = _reach(ServerStage.ADVERTISE)

    def broken(self: Any, silo: str, msg: Any) -> None:
        raise ValueError("boom")

    h.server._handlers[(ServerStage.ADVERTISE, m.AdvertiseKeys)] = lambda silo, msg: broken(
        h.server, silo, msg
    )
    out = h.server.receive(SILO, sample[m.AdvertiseKeys])
    assert h.server.stage is ServerStage.ABORTED and h.server.result is None
    assert "internal error" in (h.server.abort_reason or "") and "ValueError" in (
        h.server.abort_reason or ""
    )
    assert out and all(isinstance(msg, m.AbortRound) for _, msg in out)
