"""Rényi DP of the Poisson-sampled Gaussian under the replace-one relation.

Opacus' accountants analyse DP-SGD for neighbouring data sets that differ by *adding or removing*
one record (Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled Gaussian
Mechanism", arXiv:1908.10530). A silo may instead promise protection when one record is
*replaced* by another (the relation to state when the data set size is treated as public).
This module computes the per-step Rényi divergence for that relation; RDP then composes
additively over steps and is converted to (ε, δ) exactly as Opacus does (Balle et al.,
"Hypothesis Testing Interpretations and Rényi Differential Privacy", AISTATS 2020, Thm. 21).

The pair of distributions. With Poisson sampling at rate q, record i is in the batch with
probability q in both data sets (the coin belongs to the position, not to the record). Given
the rest of the batch, one noisy step of the clipped gradient sum is

    P = (1-q)·N(0, σ²I) + q·N(x, σ²I)     versus     Q = (1-q)·N(0, σ²I) + q·N(x', σ²I)

in units of the clipping norm C, with ``|x|, |x'| <= 1``. By joint convexity of
``exp((α-1)·D_α)`` the rest of the batch cannot help, and the extra coordinates of
``x, x'`` can be marginalised away (post-processing), so both may be taken of norm 1: only the
angle θ between them is left. We evaluate the antipodal case θ = π,

    P = (1-q)·N(0, σ²) + q·N(1, σ²)     versus     Q = (1-q)·N(0, σ²) + q·N(-1, σ²),

in one dimension. That θ = π maximises D_α over θ is **checked numerically** (two-dimensional
quadrature over a grid of θ, q, σ and α in ``tests/dp/test_dp_replace_one.py``) and holds to
first order in q in closed form (``2e^{1/σ²} - 2e^{cos θ/σ²}`` is largest at cos θ = -1); it is
not proven here. At q = 1 the pair is the Gaussian mechanism of sensitivity 2, whose Rényi
divergence ``2α/σ²`` is known in closed form (Mironov, "Rényi Differential Privacy", CSF 2017,
Proposition 7); the tests hold the quadrature to it.

Quadrature. ``D_α = log ∫ p^α q^{1-α} dy / (α-1)`` is integrated in log space with the
trapezoid rule on a uniform grid of step σ/40 over ``[-(2α+1+15σ), 2α+1+15σ]``. The
integrand is Gaussian-smooth with standard deviation σ and its mass centred at most at
``2α - 1`` (the q = 1 case), so the rule's error is far below the accountant's other roundings;
the tests compare it with adaptive quadrature in arbitrary precision.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from fedseal.extras import require

__all__ = ["ORDERS", "epsilon_replace_one", "rdp_replace_one"]

#: Rényi orders: Opacus' ``RDPAccountant.DEFAULT_ALPHAS``, so both relations convert alike.
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))

_STEPS_PER_SIGMA = 40
_TAIL_SIGMAS = 15.0


def _rdp_one(q: float, sigma: float, alpha: float) -> float:
    half = 2.0 * alpha + 1.0 + _TAIL_SIGMAS * sigma
    h = sigma / _STEPS_PER_SIGMA
    y = np.linspace(-half, half, 2 * math.ceil(half / h) + 1)
    inv = 1.0 / (2.0 * sigma * sigma)
    if q >= 1.0:
        log_p = -((y - 1.0) ** 2) * inv
        log_q = -((y + 1.0) ** 2) * inv
    else:
        centre = math.log1p(-q) - y * y * inv
        log_p = np.logaddexp(centre, math.log(q) - (y - 1.0) ** 2 * inv)
        log_q = np.logaddexp(centre, math.log(q) - (y + 1.0) ** 2 * inv)
    log_f = alpha * log_p + (1.0 - alpha) * log_q
    top = float(np.max(log_f))
    weights = np.exp(log_f - top)
    integral = (float(np.sum(weights)) - 0.5 * float(weights[0] + weights[-1])) * (y[1] - y[0])
    log_integral = top + math.log(integral) - 0.5 * math.log(2.0 * math.pi * sigma * sigma)
    return max(0.0, log_integral / (alpha - 1.0))


@lru_cache(maxsize=256)
def _rdp_cached(q: float, sigma: float) -> tuple[float, ...]:
    return tuple(_rdp_one(q, sigma, a) for a in ORDERS)


def rdp_replace_one(q: float, sigma: float) -> np.ndarray:
    """Per-step Rényi divergence at every order in :data:`ORDERS` under replace-one.

    Parameters
    ----------
    q : float
        Poisson sampling rate, ``0 < q <= 1``.
    sigma : float
        Noise multiplier σ (noise standard deviation in units of the clipping norm), ``> 0``.

    Returns
    -------
    numpy.ndarray
        ``D_α(P ‖ Q)`` for the pair in the module docstring, one value per order.
    """
    if not (0.0 < q <= 1.0) or not (sigma > 0.0 and math.isfinite(sigma)):
        raise ValueError(f"need 0 < q <= 1 and sigma > 0, got q={q!r}, sigma={sigma!r}")
    return np.array(_rdp_cached(float(q), float(sigma)))


def epsilon_replace_one(entries: list[tuple[float, float, int]], *, delta: float) -> float:
    """ε at ``delta`` after composing ``(σ, q, steps)`` entries under replace-one (RDP).

    Parameters
    ----------
    entries : list of (float, float, int)
        Accountant history, as :data:`fedseal.dp.accounting.Entry`.
    delta : float
        Target δ, ``0 < delta < 1``.

    Returns
    -------
    float
        ε by Opacus' RDP-to-(ε, δ) conversion over :data:`ORDERS` (0.0 for no steps).
    """
    require("dp", "opacus")
    from opacus.accountants.analysis.rdp import get_privacy_spent

    total = np.zeros(len(ORDERS))
    for sigma, q, steps in entries:
        if steps > 0:
            total += steps * rdp_replace_one(q, sigma)
    if not total.any():
        return 0.0
    eps, _ = get_privacy_spent(orders=list(ORDERS), rdp=total.tolist(), delta=delta)
    return float(eps)
