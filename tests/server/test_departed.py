"""Issue 15: a silo whose connection ended after it answered one phase is counted out of the
next phase at once (``RoundScope.departed``), not after that phase's deadline."""

from __future__ import annotations

from typing import Any

from fedseal.protocol import control as c
from fedseal.protocol.round_events import Collect, Event, Gone, Received


def _collect(departed: dict[str, str], awaited: list[str], events: list[Event]) -> list[Any]:
    """Run one phase's collection over ``events`` and then its deadline; the missing silos."""
    collect = Collect(1, awaited, deadline=10.0, departed=departed)
    missing = collect.take_missing()  # departed before the phase began: missing at once
    for event in [*events, None]:
        if collect.done:
            break
        collect.offer(event)
        missing += collect.take_missing()
    return missing


def test_gone_after_answering_is_missing_at_once_in_the_next_phase() -> None:
    # Phase 1 waits for b; meanwhile a (which answered earlier) breaks the protocol and its
    # connection ends: two Gone events, the first naming the cause.
    departed: dict[str, str] = {}
    events: list[Event] = [Gone("a", "malformed message: x"), Gone("a", "disconnected")]
    assert _collect(departed, ["b"], events) == [("b", "timed out")]
    assert departed == {"a": "malformed message: x"}
    # Phase 2 asks a: missing at once, with the first reason, before any event.
    phase2 = Collect(1, ["a"], deadline=10.0, departed=departed)
    assert phase2.done and phase2.take_missing() == [("a", "malformed message: x")]


def test_a_silo_that_answers_is_yielded_once() -> None:
    ready = c.TrainReady("dep", 1, "a")
    collect = Collect(1, ["a"], deadline=10.0, departed={})
    answers = [collect.offer(Received("a", ready)), collect.offer(Received("a", ready))]
    assert answers == [("a", ready), None] and collect.done
