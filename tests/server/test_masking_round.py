"""The masking mode's per-round session on the server: the threads the server lends reach the
last step of the round (removing the masks), and it still opens with the audited start."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fedseal.audit import events as ev
from fedseal.protocol import messages as m
from fedseal.protocol.round_events import RoundScope
from fedseal.secagg.identity import IdentityKey
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.aggregators import make_aggregator
from fedseal.server.driver_config import DriverConfig

SILOS = ("a", "b", "c")


def test_the_servers_threads_reach_the_unmasking_of_every_round() -> None:
    config = DriverConfig(
        deployment_id="dep", rounds=1, min_silos=2, aggregation="masking",
        quantization=QuantizationSpec(clip=1.0, bits=16, max_weight=10, max_silos=3),
        train_timeout_s=5.0, stage_timeout_s=5.0, connect_timeout_s=5.0,
    )  # fmt: skip
    directory = {s: IdentityKey.generate().public_key for s in SILOS}
    with ThreadPoolExecutor(2) as pool:
        aggregator = make_aggregator(config, directory, dim=4, threads=(pool, 2))
        session = aggregator.new_round(RoundScope(1), bytes(32))
        step = session.start(SILOS, now=0.0)
        inner = session._session  # type: ignore[attr-defined]
        assert inner._executor is pool and inner._parts == 2
    assert [r.event for r in step.records] == [ev.ROUND_STARTED]
    assert sorted(s for s, msg in step.send if isinstance(msg, m.BeginRound)) == list(SILOS)
    # Without threads the unmasking runs on the caller's thread, as before.
    plain = make_aggregator(config, directory, dim=4).new_round(RoundScope(2), bytes(32))
    plain.start(SILOS, now=0.0)
    assert plain._session._executor is None  # type: ignore[attr-defined]
