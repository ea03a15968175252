"""Simulation executors (issue 15): the process pool (and Ray) give exactly the inline sums.

Every case runs the same seeded round on the inline executor and on two worker processes, with
scripted dropouts at several stages, and checks both sums against the plain sum of the
survivors' inputs mod 2^32. Also: several rounds on one pool (sessions and ledgers persist on
the workers), the frames, and misuse.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from fedseal.errors import ConfigError, MissingExtraError
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.server import ServerStage
from fedseal.secagg.graph import corrupt_count, full_parameters, sparse_parameters
from fedseal.simulation.executors import Executor, make_executor
from fedseal.simulation.frames import BlobTable, pack, unpack
from fedseal.simulation.inprocess import RoundOutcome

DIM = 97
S = ServerStage


def _setup(n: int, graph: str, round_id: int = 1) -> tuple[list[str], ClientPolicy, m.RoundParams]:
    names = [f"silo-{i:02d}" for i in range(n)]
    corrupt = corrupt_count(n, 0.05)
    g = (
        sparse_parameters(n, corrupt=corrupt, dropout=0.2)
        if graph == "sparse"
        else full_parameters(n, corrupt=corrupt)
    )
    policy = ClientPolicy(
        roster_size=n, corruption=0.05, dropout=0.2, full_graph_max=0 if graph == "sparse" else n
    )
    params = m.RoundParams("sim", round_id, tuple(names), g.kind, g.k, g.threshold, DIM, 32)
    return names, policy, params


def _inputs(names: list[str], seed: int) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    return {s: rng.integers(0, 2**32, DIM, dtype=np.uint32) for s in names}


def _plain_sum(inputs: dict[str, np.ndarray[Any, Any]], survivors: tuple[str, ...]) -> Any:
    total = np.zeros(DIM, dtype=np.uint32)
    for s in survivors:
        np.add(total, inputs[s], out=total)
    return total


def _run(executor: Executor, params: m.RoundParams, raw: dict[str, Any], drop: Any) -> RoundOutcome:
    buffers = executor.input_buffers(params)
    for silo, vector in raw.items():
        buffers[silo][...] = vector
    return executor.run_round(params, buffers, drop_at=drop)


@pytest.mark.parametrize(
    ("n", "graph", "drops"),
    [
        (5, "full", {0: S.MASKED_INPUT}),
        (12, "sparse", {0: S.SHARE, 5: S.MASKED_INPUT, 7: S.UNMASK}),
        (9, "full", {2: S.ADVERTISE, 3: S.CONSISTENCY}),
        (16, "sparse", {}),
    ],
    ids=["n5-full-masked", "n12-sparse-3drops", "n9-full-advertise-consistency", "n16-none"],
)
def test_process_sum_equals_inline_sum(n: int, graph: str, drops: dict[int, ServerStage]) -> None:
    names, policy, params = _setup(n, graph)
    raw = _inputs(names, seed=n)
    drop = {names[i]: stage for i, stage in drops.items()}
    outcomes = {}
    for kind in ("inline", "process"):
        with make_executor(kind, "sim", names, workers=2, policy=policy, seed=7) as executor:
            outcomes[kind] = _run(executor, params, raw, drop)
    inline, process = outcomes["inline"], outcomes["process"]
    assert inline.result is not None and process.result is not None
    assert process.survivors == inline.survivors
    # U3 is fixed by the masked inputs: a silo that drops later is still in the sum.
    late = (S.CONSISTENCY, S.UNMASK)
    assert set(process.survivors) == set(names) - {names[i] for i in drops if drops[i] not in late}
    assert np.array_equal(process.result, inline.result)
    assert np.array_equal(process.result, _plain_sum(raw, process.survivors))
    assert {d.silo for d in process.dropouts} == {d.silo for d in inline.dropouts}
    assert process.client_errors == {} and set(process.client_seconds) <= set(names)
    assert process.upload_bytes == inline.upload_bytes


def test_a_pool_runs_several_rounds_and_keeps_its_silos() -> None:
    names, policy, _ = _setup(6, "full")
    with make_executor("process", "sim", names, workers=3, policy=policy, seed=1) as executor:
        assert executor.workers == 3 and sorted(executor.directory) == names
        for round_id in (1, 2, 5):
            _, _, params = _setup(6, "full", round_id)
            raw = _inputs(names, seed=round_id)
            outcome = _run(executor, params, raw, {names[round_id % 6]: S.MASKED_INPUT})
            assert outcome.result is not None
            assert np.array_equal(outcome.result, _plain_sum(raw, outcome.survivors))
        # An old round id is refused by every silo's session: the round aborts, nothing leaks.
        _, _, old = _setup(6, "full", 4)
        outcome = _run(executor, old, _inputs(names, 0), {})
        assert outcome.result is None and outcome.abort_reason is not None
        assert set(outcome.client_errors) == set(names)
        assert executor.workers_peak_rss_mb() > 0


def test_inputs_not_in_the_pool_buffers_are_copied_in() -> None:
    names, policy, params = _setup(4, "full")
    raw = _inputs(names, seed=3)
    with make_executor("process", "sim", names, workers=2, policy=policy) as executor:
        outcome = executor.run_round(params, raw)
    assert outcome.result is not None
    assert np.array_equal(outcome.result, _plain_sum(raw, tuple(names)))


def test_misuse_is_refused() -> None:
    names, policy, params = _setup(4, "full")
    with pytest.raises(ConfigError, match="executor must be one of"):
        make_executor("gpu", "sim", names)
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        make_executor("process", "sim", names, workers=0)
    with pytest.raises(ConfigError, match="start_method"):
        make_executor("process", "sim", names, start_method="fork")
    with pytest.raises(ConfigError, match="no options"):
        make_executor("inline", "sim", names, start_method="spawn")
    executor = make_executor("process", "sim", names[:3], workers=2, policy=policy)
    with executor, pytest.raises(ConfigError, match="not in this simulation"):
        executor.run_round(params, _inputs(names, 0))
    with pytest.raises(ConfigError, match="closed"):
        executor.run_round(params, _inputs(names, 0))


def test_a_failing_worker_is_raised_in_the_driver_and_closes_the_pool() -> None:
    names, policy, params = _setup(4, "full")
    raw = _inputs(names[:3], seed=0)  # the last silo has no input: its session cannot mask
    executor = make_executor("process", "sim", names, workers=2, policy=policy)
    with pytest.raises(RuntimeError, match="simulation worker failed: ConfigError"):
        executor.run_round(params, raw)
    assert executor.closed


def test_ray_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'fedseal\[ray\]'"):
        make_executor("ray", "sim", ["a", "b"])


def test_frames_round_trip_and_refuse_damage() -> None:
    table = BlobTable(lambda msg: repr(msg).encode())
    shared = ("broadcast",)
    assert [table.add(shared), table.add(("other",)), table.add(shared)] == [0, 1, 0]
    frame = pack({"op": "step", "items": [["a", 0]]}, table.blobs)
    header, blobs = unpack(frame)
    assert header == {"op": "step", "items": [["a", 0]]}
    assert [bytes(b) for b in blobs] == table.blobs
    with pytest.raises(ValueError, match="sizes"):
        unpack(frame[:-1])
    with pytest.raises(ValueError, match="sizes"):
        pack({"sizes": []})
    with pytest.raises(ValueError, match="truncated"):
        unpack(frame[:6])


@pytest.mark.slow
def test_ray_sum_equals_inline_sum() -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        names, policy, params = _setup(10, "sparse")
        raw = _inputs(names, seed=11)
        drop = {names[1]: S.MASKED_INPUT, names[4]: S.SHARE}
        outcomes = {}
        for kind in ("inline", "ray"):
            with make_executor(kind, "sim", names, workers=2, policy=policy, seed=3) as executor:
                outcomes[kind] = _run(executor, params, raw, drop)
        ray_outcome = outcomes["ray"]
        assert ray_outcome.result is not None and outcomes["inline"].result is not None
        assert ray_outcome.survivors == outcomes["inline"].survivors
        assert np.array_equal(ray_outcome.result, outcomes["inline"].result)
        assert np.array_equal(ray_outcome.result, _plain_sum(raw, ray_outcome.survivors))
        assert ray.is_initialized()  # the executor leaves a Ray instance it did not start
    finally:
        ray.shutdown()
