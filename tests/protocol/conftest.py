"""Helpers to build rounds of the real sessions without a network."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedseal.protocol.messages import RoundParams
from fedseal.protocol.policy import ClientPolicy
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.simulation import SimulatedDeployment

MakeRound = Callable[..., tuple[SimulatedDeployment, RoundParams, dict[str, np.ndarray]]]


def make_round(
    n: int = 5,
    *,
    dim: int = 16,
    graph: str = "full",
    round_id: int = 1,
    seed: int = 0,
    modulus_bits: int = 32,
    workers: int = 1,
) -> tuple[SimulatedDeployment, RoundParams, dict[str, np.ndarray]]:
    names = [f"silo-{i:02d}" for i in range(n)]
    # "sparse" asks every silo's policy for the sparse graph whatever n (full_graph_max = 0).
    policy = ClientPolicy(full_graph_max=0 if graph == "sparse" else n)
    deployment = SimulatedDeployment(
        "dep-test",
        names,
        lambda name: SeededRandomSource(f"{seed}/{name}".encode()),
        workers=workers,
        policy=policy,
    )
    g = policy.required(n, roster_size=n)
    dtype = np.uint32 if modulus_bits == 32 else np.uint64
    params = RoundParams(
        "dep-test", round_id, tuple(sorted(names)), g.kind, g.k, g.threshold, dim, modulus_bits
    )
    data = np.random.default_rng(seed)
    inputs = {s: data.integers(0, 2**20, dim).astype(dtype) for s in names}
    return deployment, params, inputs


@pytest.fixture
def round_factory() -> MakeRound:
    return make_round
