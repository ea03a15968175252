"""Whole rounds on the real sessions: any dropout pattern gives the exact survivors' sum."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.protocol.server import ServerStage

from .conftest import make_round

STAGES = [
    ServerStage.ADVERTISE,
    ServerStage.SHARE,
    ServerStage.MASKED_INPUT,
    ServerStage.CONSISTENCY,
    ServerStage.UNMASK,
]


def _sum(inputs: dict[str, np.ndarray], silos: tuple[str, ...], dtype: type) -> np.ndarray:
    total = np.zeros(next(iter(inputs.values())).shape, dtype=dtype)
    for s in silos:
        total += inputs[s]
    return total


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 12),
    graph=st.sampled_from(["full", "sparse"]),
    modulus=st.sampled_from([32, 64]),
    data=st.data(),
)
def test_any_dropout_pattern_gives_the_exact_sum_or_a_clean_abort(
    n: int, graph: str, modulus: int, data: st.DataObject
) -> None:
    deployment, params, inputs = make_round(
        n, graph=graph, modulus_bits=modulus, seed=data.draw(st.integers(0, 1000))
    )
    names = list(params.participants)
    dropped = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=n))
    drop_at = {s: data.draw(st.sampled_from(STAGES)) for s in dropped}
    outcome = deployment.run_round(params, inputs, drop_at=drop_at)
    masked_before_drop = [
        s for s in names
        if s not in drop_at or STAGES.index(drop_at[s]) > STAGES.index(ServerStage.MASKED_INPUT)
    ]  # fmt: skip
    if outcome.result is None:
        reason = outcome.abort_reason or ""
        assert "threshold is" in reason or any("need" in e for e in outcome.client_errors.values())
        if graph == "full":  # complete graph: aborts only when fewer than t silos are left
            assert len(names) - len(dropped) < params.threshold
        return
    dtype = np.uint32 if modulus == 32 else np.uint64
    assert np.array_equal(outcome.result, _sum(inputs, outcome.survivors, dtype))
    if graph == "full":
        assert set(outcome.survivors) == set(masked_before_drop)
        assert not outcome.client_errors
        return
    # Sparse graph: a silo whose neighbourhood fell below t refuses to go on (fewer than t
    # neighbours could not hold its shares), so it leaves the round like a dropout; the sum is
    # still exact over the survivors the server reports.
    assert set(outcome.survivors) <= set(masked_before_drop)
    for silo in set(masked_before_drop) - set(outcome.survivors):
        assert "neighbours" in outcome.client_errors.get(silo, ""), outcome.client_errors


def test_silos_on_worker_threads_give_the_same_exact_sum() -> None:
    results = []
    for workers in (1, 3):
        deployment, params, inputs = make_round(12, graph="sparse", dim=5000, workers=workers)
        drop_at = {"silo-03": ServerStage.MASKED_INPUT, "silo-07": ServerStage.UNMASK}
        outcome = deployment.run_round(params, inputs, drop_at=drop_at)
        assert outcome.result is not None and "silo-03" not in outcome.survivors
        assert np.array_equal(outcome.result, _sum(inputs, outcome.survivors, np.uint32))
        results.append(outcome.result)
    assert np.array_equal(results[0], results[1])


def test_no_dropout_full_and_sparse() -> None:
    for graph in ("full", "sparse"):
        deployment, params, inputs = make_round(30, graph=graph, dim=1000)
        outcome = deployment.run_round(params, inputs)
        assert np.array_equal(outcome.result, _sum(inputs, params.participants, np.uint32))


def test_below_threshold_aborts_and_reveals_nothing() -> None:
    deployment, params, inputs = make_round(5)  # t = 4
    drop_at = {"silo-00": ServerStage.MASKED_INPUT, "silo-01": ServerStage.MASKED_INPUT}
    outcome = deployment.run_round(params, inputs, drop_at=drop_at)
    assert outcome.result is None
    assert "threshold is 4" in (outcome.abort_reason or "")


def test_dropout_after_sharing_is_recovered_with_audit_trail() -> None:
    deployment, params, inputs = make_round(5)
    outcome = deployment.run_round(params, inputs, drop_at={"silo-03": ServerStage.MASKED_INPUT})
    assert outcome.survivors == ("silo-00", "silo-01", "silo-02", "silo-04")
    assert [(d.silo, d.stage, d.reason) for d in outcome.dropouts] == [
        ("silo-03", ServerStage.MASKED_INPUT, "timed out")
    ]
    assert np.array_equal(outcome.result, _sum(inputs, outcome.survivors, np.uint32))


def test_every_round_uses_fresh_keys_and_replays_are_refused() -> None:
    from dataclasses import replace

    from fedseal.protocol.server import ServerSession
    from fedseal.simulation import simulated_train_digest

    deployment, params, inputs = make_round(4)
    digest = simulated_train_digest(params)
    servers = [ServerSession(params, deployment.directory, train_digest=digest)]
    first = deployment.run_round(params, inputs, server=servers[0])
    params2 = replace(params, round_id=2)
    digest2 = simulated_train_digest(params2)
    servers.append(ServerSession(params2, deployment.directory, train_digest=digest2))
    second = deployment.run_round(params2, inputs, server=servers[1])
    assert np.array_equal(first.result, second.result)
    keys = [{(a.c_public, a.s_public) for a in s._ads.values()} for s in servers]
    assert not keys[0] & keys[1]
    # Running round 2 again (a replayed BeginRound) is refused by every silo.
    replay = deployment.run_round(params2, inputs)
    assert replay.result is None
    assert len(replay.client_errors) == 4
    assert all("not newer" in e for e in replay.client_errors.values())
