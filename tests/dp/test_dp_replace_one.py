"""The replace-one relation: its RDP against closed forms and independent quadrature, its
worst case over the angle between the two records' gradients, and its plumbing (config, ledger,
budget guard, σ derivation). Sources of the golden values: tests/vectors/dp/README.md."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fedseal.dp import DPConfig
from fedseal.dp.accounting import epsilon, noise_multiplier_for
from fedseal.dp.ledger import PrivacyLedger
from fedseal.dp.replace_one import ORDERS, epsilon_replace_one, rdp_replace_one
from fedseal.errors import ConfigError

ALPHAS = np.array(ORDERS)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.0, 10.0])
def test_without_sampling_it_is_the_gaussian_of_sensitivity_two(sigma: float) -> None:
    # Mironov 2017, Proposition 7: D_α(N(μ,σ²) ‖ N(μ',σ²)) = α·|μ-μ'|²/(2σ²); here |μ-μ'| = 2.
    assert np.allclose(rdp_replace_one(1.0, sigma), 2.0 * ALPHAS / sigma**2, rtol=1e-9)


def test_epsilon_without_sampling_matches_the_closed_form_conversion() -> None:
    sigma, steps, delta = 4.0, 3, 1e-5
    rdp = steps * 2.0 * ALPHAS / sigma**2
    # Balle et al. 2020, Thm. 21, the conversion Opacus applies, over the same orders.
    eps = rdp + np.log((ALPHAS - 1) / ALPHAS) - (math.log(delta) + np.log(ALPHAS)) / (ALPHAS - 1)
    got = epsilon_replace_one([(sigma, 1.0, steps)], delta=delta)
    assert got == pytest.approx(float(eps.min()), rel=1e-9)


@pytest.mark.parametrize(
    ("q", "sigma", "alpha"),
    [(0.35, 3.289, 2.0), (0.35, 3.289, 32), (0.01, 1.1, 8), (0.5, 0.6, 12), (0.04, 1.5, 1.5)],
)
def test_quadrature_agrees_with_arbitrary_precision(q: float, sigma: float, alpha: float) -> None:
    mpmath = pytest.importorskip("mpmath")
    mp = mpmath.mp
    mp.dps = 30

    def dens(y: object, shift: int) -> object:
        return (1 - q) * mpmath.npdf(y, 0, sigma) + q * mpmath.npdf(y, shift, sigma)

    points = [-mpmath.inf, -5, 0, alpha / 2, alpha, 2 * alpha, mpmath.inf]
    integral = mpmath.quad(lambda y: dens(y, 1) ** alpha * dens(y, -1) ** (1 - alpha), points)
    expected = float(mpmath.log(integral) / (alpha - 1))
    got = rdp_replace_one(q, sigma)[ORDERS.index(alpha)]
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("q", "sigma"), [(0.35, 3.289), (0.01, 1.1), (0.5, 0.6), (0.9, 0.8)])
def test_never_below_add_remove(q: float, sigma: float) -> None:
    from opacus.accountants.analysis.rdp import compute_rdp

    add_remove = compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(ORDERS))
    assert np.all(rdp_replace_one(q, sigma) >= add_remove * (1 - 1e-9))


def _rdp_2d(q: float, sigma: float, alpha: float, theta: float) -> float:
    """D_α for unit gradients x, x' at angle θ (two-dimensional trapezoid quadrature)."""
    half = 2 * alpha + 1 + 12 * sigma
    y = np.linspace(-half, half, 1201)
    gx, gy = np.meshgrid(y, y, indexing="ij")
    inv = 1 / (2 * sigma**2)

    def log_n(cx: float, cy: float) -> np.ndarray:
        return -((gx - cx) ** 2 + (gy - cy) ** 2) * inv

    centre = math.log1p(-q) + log_n(0.0, 0.0)
    log_p = np.logaddexp(centre, math.log(q) + log_n(1.0, 0.0))
    log_q = np.logaddexp(centre, math.log(q) + log_n(math.cos(theta), math.sin(theta)))
    log_f = alpha * log_p + (1 - alpha) * log_q
    top = float(log_f.max())
    total = float(np.exp(log_f - top).sum()) * (y[1] - y[0]) ** 2 / (2 * math.pi * sigma**2)
    return (top + math.log(total)) / (alpha - 1)


@pytest.mark.parametrize(
    ("q", "sigma", "alpha"),
    [(0.35, 3.289, 2.0), (0.35, 3.289, 8), (0.35, 1.0, 2.0), (0.9, 0.8, 1.5), (0.05, 0.7, 2.0)],
)
def test_opposite_gradients_are_the_worst_angle(q: float, sigma: float, alpha: float) -> None:
    """The module's one unproven step, checked: over θ, D_α peaks at θ = π (x' = -x)."""
    values = [_rdp_2d(q, sigma, alpha, t) for t in np.linspace(0.0, math.pi, 9)]
    assert max(values) <= values[-1] * (1 + 1e-6)
    assert values[-1] == pytest.approx(rdp_replace_one(q, sigma)[ORDERS.index(alpha)], rel=1e-4)


def test_demo_history_costs_more_under_replace_one() -> None:
    history = [(3.289, 0.35, 30)]
    add_remove = epsilon(history, delta=1e-5, accountant="rdp")
    replace = epsilon(history, delta=1e-5, accountant="rdp", relation="replace_one")
    assert replace == pytest.approx(epsilon_replace_one(history, delta=1e-5))
    assert add_remove < replace


def test_relation_checks() -> None:
    with pytest.raises(ConfigError, match="rdp"):
        DPConfig(
            epsilon_budget=8,
            noise_multiplier=1.0,
            neighbouring_relation="replace_one",
            accountant="prv",
        )
    with pytest.raises(ConfigError, match="neighbouring_relation"):
        DPConfig(epsilon_budget=8, noise_multiplier=1.0, neighbouring_relation="swap")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="relation"):
        epsilon([(1.0, 0.1, 3)], delta=1e-5, accountant="rdp", relation="swap")
    with pytest.raises(ConfigError, match="rdp"):
        epsilon([(1.0, 0.1, 3)], delta=1e-5, accountant="prv", relation="replace_one")


def test_noise_multiplier_for_replace_one_reaches_the_target_from_below() -> None:
    config = DPConfig(
        epsilon_budget=8.0,
        target_epsilon=8.0,
        planned_rounds=10,
        neighbouring_relation="replace_one",
    )
    sigma = noise_multiplier_for(config, sample_rate=0.35, steps_per_round=3)
    reached = epsilon_replace_one([(sigma, 0.35, 30)], delta=1e-5)
    assert reached <= 8.0
    assert epsilon_replace_one([(sigma - 0.011, 0.35, 30)], delta=1e-5) > 8.0
    add_remove = noise_multiplier_for(
        DPConfig(epsilon_budget=8.0, target_epsilon=8.0, planned_rounds=10),
        sample_rate=0.35,
        steps_per_round=3,
    )
    assert sigma > add_remove  # the same ε under the stronger relation needs more noise


def test_ledger_keeps_its_relation(tmp_path: Path) -> None:
    replace = DPConfig(
        epsilon_budget=8.0, noise_multiplier=1.5, neighbouring_relation="replace_one"
    )
    with PrivacyLedger.open(tmp_path, silo="h1", config=replace) as ledger:
        assert ledger.settings.relation == "replace_one"
    with pytest.raises(ConfigError, match="neighbouring_relation"):
        PrivacyLedger.open(
            tmp_path, silo="h1", config=DPConfig(epsilon_budget=8.0, noise_multiplier=1.5)
        )
    with PrivacyLedger.read(tmp_path / "privacy-ledger.sqlite3") as view:
        assert view.settings.relation == "replace_one"


def test_guard_accounts_with_the_ledgers_relation(tmp_path: Path) -> None:
    from fedseal.dp.guard import plan_rounds, reserve_round

    found = {}
    for relation in ("add_remove", "replace_one"):
        config = DPConfig(
            epsilon_budget=8.0, noise_multiplier=3.289, neighbouring_relation=relation
        )  # type: ignore[arg-type]
        with PrivacyLedger.open(tmp_path / relation, silo="h1", config=config) as ledger:
            r = reserve_round(
                ledger,
                round_id=1,
                steps=3,
                sample_rate=0.35,
                noise_multiplier=3.289,
                max_grad_norm=1.0,
            )
            plan = plan_rounds(ledger, steps=3, sample_rate=0.35, noise_multiplier=3.289)
            assert plan.relation == relation
            found[relation] = (r.epsilon, plan.rounds)
    assert found["replace_one"][0] == pytest.approx(
        epsilon_replace_one([(3.289, 0.35, 3)], delta=1e-5)
    )
    assert found["replace_one"][0] > found["add_remove"][0]
    assert found["replace_one"][1] < found["add_remove"][1]


@pytest.mark.parametrize(
    ("history", "expected"),
    [([(1.5, 0.04, 2250)], 14.435711376929586), ([(3.289, 0.35, 200)], 17.658167715022472)],
)
def test_replace_one_pinned(history: list[tuple[float, float, int]], expected: float) -> None:
    got = epsilon(history, delta=1e-5, accountant="rdp", relation="replace_one")
    assert got == pytest.approx(expected, rel=1e-9)
