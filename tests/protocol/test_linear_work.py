"""Work that must stay linear in n*k: counts that catch a per-silo pass over all n silos.

At n = 1000 silos the server's time grew 8x for 2x the silos: every silo built the closed
neighbourhood of all n silos (O(n^2 k) over the round, 8.8 GB), and the server scanned every
answer once per owner when reconstructing. These tests count the work instead of timing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

from fedseal.protocol.server import ServerStage
from fedseal.protocol.server_shares import ParsedShares, reconstruct
from fedseal.secagg.graph import ClosedNeighbourhoods
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.hazmat.randomness import SeededRandomSource

from .conftest import make_round


def test_each_silo_builds_only_the_neighbourhoods_around_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: Counter[int] = Counter()  # per ClosedNeighbourhoods instance, i.e. per party
    original = ClosedNeighbourhoods._build

    def counting(self: ClosedNeighbourhoods, index: int) -> frozenset[str]:
        built[id(self)] += 1
        return original(self, index)

    monkeypatch.setattr(ClosedNeighbourhoods, "_build", counting)
    deployment, params, inputs = make_round(60, graph="sparse", dim=64)
    drop_at = {s: ServerStage.MASKED_INPUT for s in params.participants[:5]}
    outcome = deployment.run_round(params, inputs, drop_at=drop_at)
    assert outcome.result is not None and len(outcome.survivors) == 55
    expected = np.zeros(64, dtype=np.uint32)
    for s in outcome.survivors:
        expected += inputs[s]
    assert np.array_equal(outcome.result, expected)
    # The server checks every silo's shares (n sets); each silo needs its own closed
    # neighbourhood and those of the neighbours it answers for (k + 1 sets), not all n.
    counts = sorted(built.values())
    assert len(counts) == 61
    assert counts[-1] <= 60
    assert counts[-2] <= params.k + 1 < 60


class _CountingAnswers:
    """The unmask answers, counting how often they are read through."""

    def __init__(self, answers: list[ParsedShares]) -> None:
        self.answers = answers
        self.passes = 0

    def __iter__(self) -> Iterator[ParsedShares]:
        self.passes += 1
        return iter(self.answers)

    def __len__(self) -> int:
        return len(self.answers)

    def __contains__(self, item: object) -> bool:
        return item in self.answers


def test_reconstruct_reads_the_answers_once_for_all_owners() -> None:
    rng = SeededRandomSource(3)
    holders, t = list(range(1, 9)), 5
    owners = [f"silo-{i}" for i in range(6)]
    secrets = {o: (int.from_bytes(rng.token_bytes(32), "big") % shamir.PRIME) for o in owners}
    answers: list[ParsedShares] = [{} for _ in holders]
    for owner, value in secrets.items():
        shares = shamir.split(value.to_bytes(32, "big"), holders, t, rng)
        for answer, share in zip(answers, shares, strict=True):
            answer[("b", owner)] = share
    del answers[2][("b", "silo-4")]  # another set of holders for this owner
    counting = _CountingAnswers(answers)
    out = reconstruct("b", owners, answers=counting, threshold=t, complaints={}, culprits={})
    assert {o: int.from_bytes(v, "big") for o, v in out.items()} == secrets
    assert counting.passes == 1  # not one pass per owner (O(n^2) at unmasking)
