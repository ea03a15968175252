"""The pieces of issue 15's stream limits, without a network: answers per request, sizes per
kind, the envelope kind on the first frame, and the per-identity connection bucket."""

from __future__ import annotations

import numpy as np
import pytest

from fedseal.errors import ConfigError, MessageTooLarge, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.wire.channel import TransportLimits, server_channel_options
from fedseal.protocol.wire.framing import Reassembler, silo_envelope_kind, split_frames
from fedseal.protocol.wire.serde import encode_to_server
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.connect_limit import ConnectLimiter
from fedseal.server.driver_config import DriverConfig
from fedseal.server.expectations import Expectations, MessageLimits

DEP = "dep"


def _config(aggregation: str = "masking") -> DriverConfig:
    return DriverConfig(
        deployment_id=DEP, rounds=1, min_silos=2, aggregation=aggregation,
        quantization=QuantizationSpec(clip=1.0, bits=16, max_weight=10, modulus_bits=32),
        train_timeout_s=1.0, stage_timeout_s=1.0, connect_timeout_s=1.0,
    )  # fmt: skip


def _limits(aggregation: str = "masking", dim: int = 100_000) -> MessageLimits:
    return MessageLimits.for_deployment(_config(aggregation), dim=dim, silos=100, ceiling=64 << 20)


def _hello_done(expect: Expectations) -> None:
    from fedseal.protocol.hello import Hello

    assert expect.limit_for("Hello") > 0
    expect.spend(Hello.__new__(Hello), 100)


def test_sizes_follow_the_deployment() -> None:
    masking = _limits()
    assert masking.of("TrainReady") == masking.of("ConsistencySignature") == 8 << 10
    vector = masking.of("MaskedInput")
    assert vector is not None and 400_000 < vector < 600_000  # 4 bytes x 1e5 + overhead
    assert masking.of("PlaintextInput") is None and masking.of("PaillierInput") is None
    plain = _limits("none")
    assert plain.of("MaskedInput") is None and plain.of("PlaintextInput") is not None
    assert _limits(dim=10**8).of("MaskedInput") == 64 << 20  # never above max_message_bytes


def test_each_request_allows_one_answer_of_its_kinds() -> None:
    expect = Expectations(_limits())
    with pytest.raises(ProtocolViolation, match="unexpected TrainReady"):
        expect.limit_for("TrainReady")  # nothing asked yet; the Hello comes first
    _hello_done(expect)
    with pytest.raises(ProtocolViolation, match="unexpected Hello"):
        expect.limit_for("Hello")
    expect.grant(c.TrainRequest.__new__(c.TrainRequest))
    with pytest.raises(ProtocolViolation, match="not used by this deployment"):
        expect.limit_for("PlaintextInput")
    with pytest.raises(ProtocolViolation, match="unexpected MaskedInput"):
        expect.limit_for("MaskedInput")
    ready = c.TrainReady(DEP, 1, "a")
    expect.spend(ready, 50)
    with pytest.raises(ProtocolViolation, match="unexpected TrainReady"):
        expect.spend(ready, 50)  # a replay, or the second of a flood


def test_an_abort_answers_any_request_and_a_smuggled_kind_is_measured() -> None:
    expect = Expectations(_limits())
    _hello_done(expect)
    expect.grant(m.UnmaskRequest(DEP, 1, (), (), ()))
    expect.spend(m.AbortRound(DEP, 1, "no"), 10)
    with pytest.raises(ProtocolViolation):
        expect.limit_for("UnmaskResponse")
    expect.grant(m.ShareDelivery(DEP, 1, ()))
    vector = np.zeros(8, dtype=np.uint32)
    with pytest.raises(MessageTooLarge):  # first bytes said something small, the rest was not
        expect.spend(m.MaskedInput(DEP, 1, "a", vector), 10 << 20)


def test_silos_cannot_bank_answers() -> None:
    expect = Expectations(_limits(), max_outstanding=2)
    _hello_done(expect)
    for _ in range(5):
        expect.grant(c.CheckpointRequest(DEP, 1, b"{}"))
    cosign = c.CheckpointCosign(DEP, 1, "a", bytes(64), b"")
    expect.spend(cosign, 100)
    expect.spend(cosign, 100)
    with pytest.raises(ProtocolViolation):
        expect.spend(cosign, 100)


@pytest.mark.parametrize(
    "message",
    [c.TrainReady(DEP, 1, "a"), c.Abstain(DEP, 1, "a", "r"), m.AbortRound(DEP, 1, "r"),
     m.ConsistencySignature(DEP, 1, "a", bytes(64)),
     m.MaskedInput(DEP, 1, "a", np.arange(10, dtype=np.uint32))],
    ids=lambda message: type(message).__name__,
)  # fmt: skip
def test_the_first_bytes_name_the_kind(message: object) -> None:
    assert silo_envelope_kind(encode_to_server(message)) == type(message).__name__  # type: ignore[arg-type]


def test_an_unknown_start_is_refused() -> None:
    with pytest.raises(ProtocolViolation):
        silo_envelope_kind(b"x123")
    with pytest.raises(ProtocolViolation):
        silo_envelope_kind(b"")


def test_the_reassembler_refuses_on_the_first_frame_by_kind() -> None:
    payload = encode_to_server(c.Abstain(DEP, 1, "a", "x" * 50_000))
    frames = split_frames(payload, message_id=1, chunk_size=4096)
    asked: list[str] = []

    def limit_for(head: bytes) -> int:
        asked.append(silo_envelope_kind(head))
        return 8192

    reassembler = Reassembler(max_message_bytes=1 << 20, limit_for=limit_for)
    with pytest.raises(MessageTooLarge, match="limit of 8192 bytes"):
        reassembler.add(frames[0])
    assert asked == ["Abstain"]
    small = Reassembler(max_message_bytes=1 << 20, limit_for=limit_for)
    ok = split_frames(encode_to_server(c.Abstain(DEP, 1, "a", "x")), message_id=1, chunk_size=4096)
    assert small.add(ok[0]) is not None


def test_connect_bucket_refills_and_reports_once_per_window() -> None:
    now = [0.0]
    limiter = ConnectLimiter(burst=2, refill_s=10.0, window_s=60.0, clock=lambda: now[0])
    assert limiter.admit("a") and limiter.admit("a") and not limiter.admit("a")
    assert limiter.admit("b")  # per identity
    report = limiter.report("a")
    assert report is not None and "refused 1 connection(s) of a" in report
    for _ in range(100):
        assert not limiter.admit("a")
        assert limiter.report("a") is None  # within the window: counted, not reported
    now[0] = 10.0
    assert limiter.admit("a") and not limiter.admit("a")
    now[0] = 61.0
    report = limiter.report("a")
    assert report is not None and "refused 101 connection(s)" in report
    with pytest.raises(ConfigError, match="connect_burst"):
        ConnectLimiter(burst=0, refill_s=1.0)


def test_the_server_pings_at_the_heartbeat() -> None:
    options = dict(server_channel_options(TransportLimits(heartbeat_s=2.5)))
    assert options["grpc.keepalive_time_ms"] == options["grpc.keepalive_timeout_ms"] == 2500
    with pytest.raises(ConfigError, match="heartbeat_s"):
        TransportLimits(heartbeat_s=0)


def test_the_reassembly_budget_serves_in_order_and_survives_cancellation() -> None:
    import asyncio

    from fedseal.server.backpressure import ByteBudget

    async def scenario() -> list[str]:
        budget = ByteBudget(10)
        order: list[str] = []
        assert await budget.take(8) == 8

        async def wants(name: str, size: int) -> None:
            await budget.take(size)
            order.append(name)

        big = asyncio.create_task(wants("big", 50))  # capped at the whole budget
        small = asyncio.create_task(wants("small", 1))  # fits now, but comes after big
        gone = asyncio.create_task(wants("gone", 1))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        assert order == []
        budget.give(8)
        await asyncio.sleep(0)
        assert order == ["big"] and budget.free == 0
        budget.give(10)
        await asyncio.gather(big, small)
        assert budget.free == 9
        return order

    assert asyncio.run(scenario()) == ["big", "small"]
