"""Accounting: golden ε values (sources in tests/vectors/dp/README.md), merging, derivation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fedseal.dp import DPConfig
from fedseal.dp.accounting import (
    compose,
    epsilon,
    make_accountant,
    noise_multiplier_for,
    rounds_affordable,
)
from fedseal.dp.ledger import RoundRecord
from fedseal.errors import ConfigError


def test_rdp_golden_issue_and_opacus() -> None:
    assert epsilon([(1.5, 0.04, 2250)], delta=1e-5, accountant="rdp") == pytest.approx(
        7.32911117143, abs=1e-9
    )


def test_prv_golden_from_opacus_tests() -> None:
    eps = epsilon([(1.5, 0.04, 2249)], delta=1e-5, accountant="prv")
    assert eps == pytest.approx(6.777395712150674, abs=1e-7)


@pytest.mark.parametrize(
    ("history", "delta", "expected"),
    [
        ([(1.5, 0.04, 2250)], 1e-5, 6.7791320762541165),
        ([(1.1, 0.01, 5000), (0.9, 0.02, 100)], 1e-6, 4.416691748416423),
    ],
)
def test_prv_pinned_with_installed_opacus(
    history: list[tuple[float, float, int]], delta: float, expected: float
) -> None:
    assert epsilon(history, delta=delta, accountant="prv") == pytest.approx(expected, rel=1e-6)


def test_rdp_without_subsampling_matches_closed_form() -> None:
    sigma, steps = 2.0, 7
    acc = make_accountant([(sigma, 1.0, steps)], "rdp")
    from opacus.accountants.analysis.rdp import compute_rdp

    orders = np.array(acc.DEFAULT_ALPHAS, dtype=float)
    rdp = compute_rdp(q=1.0, noise_multiplier=sigma, steps=steps, orders=orders)
    assert np.allclose(rdp, orders * steps / (2 * sigma**2))


def test_compose_merges_equal_settings_and_keeps_epsilon() -> None:
    per_round = [(1.5, 0.04, 225)] * 10
    assert compose(per_round) == [(1.5, 0.04, 2250)]
    mixed = [(1.0, 0.1, 3), (2.0, 0.1, 4), (1.0, 0.1, 5), (2.0, 0.1, 0)]
    assert compose(mixed) == [(1.0, 0.1, 8), (2.0, 0.1, 4)]
    assert epsilon(per_round, delta=1e-5, accountant="rdp") == pytest.approx(
        7.32911117143, abs=1e-9
    )


def test_merged_history_equals_opacus_step_by_step() -> None:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    history = [(1.0, 0.05, 30), (1.3, 0.02, 50), (1.0, 0.05, 20)]
    for sigma, q, n in history:
        for _ in range(n):
            acc.step(noise_multiplier=sigma, sample_rate=q)
    assert epsilon(history, delta=1e-5, accountant="rdp") == pytest.approx(
        acc.get_epsilon(delta=1e-5), rel=1e-12
    )


def test_empty_history_spends_nothing() -> None:
    assert epsilon([], delta=1e-5, accountant="rdp") == 0.0
    assert epsilon([(1.0, 0.1, 0)], delta=1e-5, accountant="prv") == 0.0


def test_unknown_accountant() -> None:
    with pytest.raises(ConfigError, match="accountant"):
        make_accountant([(1.0, 0.1, 1)], "gdp")


@pytest.mark.parametrize(("accountant", "sigma"), [("rdp", 1.3562), ("prv", 1.2915)])
def test_noise_multiplier_from_target_epsilon(accountant: str, sigma: float) -> None:
    config = DPConfig(
        epsilon_budget=8.0,
        target_epsilon=8.0,
        planned_rounds=20,
        accountant=accountant,  # type: ignore[arg-type]
    )
    derived = noise_multiplier_for(config, sample_rate=0.04, steps_per_round=100)
    assert derived == pytest.approx(sigma, abs=1e-4)
    eps = epsilon([(derived, 0.04, 2000)], delta=1e-5, accountant=accountant)
    assert 7.99 - 0.01 <= eps <= 8.0


def test_noise_multiplier_given_directly() -> None:
    config = DPConfig(epsilon_budget=8.0, noise_multiplier=0.7)
    assert noise_multiplier_for(config, sample_rate=0.5, steps_per_round=3) == 0.7


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_rounds_affordable_is_the_largest_count_under_budget(accountant: str) -> None:
    history = [
        RoundRecord(0, "t", "done", 40, 0.05, 2.0, 1.0, 1e-5, accountant, 0.0, 1),
        RoundRecord(1, "t", "begun", 10, 0.1, 1.2, 1.0, 1e-5, accountant, 0.0, 2),
    ]
    setting = {"noise_multiplier": 1.2, "sample_rate": 0.1, "steps": 10}
    entries = [(2.0, 0.05, 40), (1.2, 0.1, 10)]

    def eps(k: int) -> float:
        return epsilon([*entries, (1.2, 0.1, 10 * k)], delta=1e-5, accountant=accountant)

    for budget in (eps(1) - 1e-9, eps(1), eps(5) + 1e-9, (eps(6) + eps(7)) / 2):
        k = rounds_affordable(
            history, **setting, delta=1e-5, accountant=accountant, epsilon_budget=budget
        )
        assert (k == 0 or eps(k) <= budget) and eps(k + 1) > budget
    capped = rounds_affordable(
        history, **setting, delta=1e-5, accountant=accountant, epsilon_budget=eps(7), limit=5
    )
    assert capped == 5


def test_rounds_affordable_limits() -> None:
    kw: dict[str, Any] = {"noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 1}
    kw |= {"delta": 1e-5, "accountant": "rdp", "epsilon_budget": 1e6}
    assert rounds_affordable([], **kw, limit=0) == 0
    assert rounds_affordable([], **kw, limit=10_000) == 10_000
    with pytest.raises(ConfigError, match="limit"):
        rounds_affordable([], **kw, limit=-1)
