"""Issue 15: a silo whose connection ended after it answered one phase is counted out of the
next phase at once (``RoundIO.departed``), not after that phase's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from fedseal.protocol import control as c
from fedseal.server.events import Event, Gone, Received, RoundIO, gather


def _io(events: list[Event]) -> tuple[RoundIO, list[float]]:
    now = [0.0]
    queue: Iterator[Event] = iter(events)

    async def next_event(deadline: float) -> Event | None:
        event = next(queue, None)
        if event is None:
            now[0] = deadline  # nothing more: the deadline passes
        return event

    def ignore(*_: Any, **__: Any) -> None:
        return None

    io = RoundIO(
        round_id=1, next_event=next_event, send=ignore, drop=ignore, audit=ignore,
        clock=lambda: now[0],
    )  # fmt: skip
    return io, now


async def _collect(io: RoundIO, awaited: list[str]) -> list[tuple[str, str]]:
    missing: list[tuple[str, str]] = []
    async for _ in gather(io, awaited, timeout_s=10, missing=lambda s, r: missing.append((s, r))):
        pass
    return missing


def test_gone_after_answering_is_missing_at_once_in_the_next_phase() -> None:
    # Phase 1 waits for b; meanwhile a (which answered earlier) breaks the protocol and its
    # connection ends: two Gone events, the first naming the cause.
    io, now = _io([Gone("a", "malformed message: x"), Gone("a", "disconnected")])
    assert asyncio.run(_collect(io, ["b"])) == [("b", "timed out")]
    assert now[0] == 10.0 and io.departed == {"a": "malformed message: x"}
    # Phase 2 asks a: missing at once, with the first reason, before any wait.
    assert asyncio.run(_collect(io, ["a"])) == [("a", "malformed message: x")]
    assert now[0] == 10.0


def test_a_silo_that_answers_is_yielded_once() -> None:
    ready = c.TrainReady("dep", 1, "a")
    io, _ = _io([Received("a", ready), Received("a", ready)])

    async def run() -> list[str]:
        return [silo async for silo, _ in gather(io, ["a"], timeout_s=10, missing=print)]

    assert asyncio.run(run()) == ["a"]
