"""ε from the ledger: an Opacus accountant rebuilt from every round the silo ever ran.

fedseal never keeps accountant state in memory across rounds. Each time ε is needed, the
ledger's rows -- one ``(σ, q, steps)`` entry per round -- become the history of a fresh Opacus
accountant, so a restart, a new Opacus engine or a new process can never reset ε.

* ``"rdp"``: :class:`opacus.accountants.RDPAccountant` -- Rényi DP of the sampled Gaussian
  mechanism (Mironov, "Rényi Differential Privacy", CSF 2017; Mironov, Talwar & Zhang,
  arXiv:1908.10530), converted to (ε, δ) by Opacus' ``get_privacy_spent`` over its default orders.
* ``"prv"``: :class:`opacus.accountants.PRVAccountant` -- numerical composition of privacy random
  variables (Gopi, Lee & Wutschitz, "Numerical Composition of Differential Privacy", NeurIPS
  2021); we report its upper bound, as Opacus does.

Speed: composition is commutative, so :func:`compose` merges every entry with the same
``(σ, q)`` into one entry with the summed steps before the accountant sees it. Ten thousand
rounds with one setting become a single entry (RDP multiplies per-step RDP by ``steps``).

If PRV composition of a very long history runs out of memory or range, we fall back to the RDP
bound (also a valid (ε, δ) upper bound) and warn.

Every function takes the neighbouring ``relation``. ``"add_remove"`` is what the Opacus
accountants analyse; ``"replace_one"`` goes to :mod:`fedseal.dp.replace_one` (RDP only).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from fedseal.dp.config import DPConfig
from fedseal.dp.ledger import RoundRecord
from fedseal.dp.replace_one import epsilon_replace_one
from fedseal.errors import ConfigError
from fedseal.extras import require

__all__ = [
    "Entry",
    "compose",
    "epsilon",
    "epsilon_after",
    "make_accountant",
    "noise_multiplier_for",
    "rounds_affordable",
    "spent_epsilon",
]

#: One accountant history entry: ``(noise_multiplier, sample_rate, steps)``, as in Opacus.
Entry = tuple[float, float, int]


def compose(entries: Iterable[Entry]) -> list[Entry]:
    """Merge entries with equal ``(σ, q)`` by adding their steps; drop zero-step entries.

    The order of first appearance is kept (composition does not depend on order).
    """
    steps: dict[tuple[float, float], int] = {}
    for sigma, q, n in entries:
        if n > 0:
            steps[(sigma, q)] = steps.get((sigma, q), 0) + n
    return [(sigma, q, n) for (sigma, q), n in steps.items()]


def make_accountant(entries: Iterable[Entry], accountant: str) -> Any:
    """Return an Opacus accountant (``"rdp"`` or ``"prv"``) whose history is ``entries``."""
    require("dp", "opacus")
    from opacus.accountants import PRVAccountant, RDPAccountant

    classes = {"rdp": RDPAccountant, "prv": PRVAccountant}
    if accountant not in classes:
        raise ConfigError(f"accountant must be 'rdp' or 'prv', got {accountant!r}")
    acc = classes[accountant]()
    acc.history = compose(entries)
    return acc


def epsilon(
    entries: Iterable[Entry], *, delta: float, accountant: str, relation: str = "add_remove"
) -> float:
    """ε at ``delta`` after composing ``entries`` (0.0 for an empty history)."""
    merged = compose(entries)
    if not merged:
        return 0.0
    if relation == "replace_one":
        if accountant != "rdp":
            raise ConfigError("the replace_one relation is accounted with accountant 'rdp' only")
        return epsilon_replace_one(merged, delta=delta)
    if relation != "add_remove":
        raise ConfigError(f"relation must be 'add_remove' or 'replace_one', got {relation!r}")
    acc = make_accountant(merged, accountant)
    try:
        return float(acc.get_epsilon(delta=delta))
    except (MemoryError, ValueError, OverflowError) as exc:
        if accountant != "prv":
            raise
        warnings.warn(
            f"PRV accountant failed on this history ({exc.__class__.__name__}); "
            "using the RDP upper bound instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return float(make_accountant(merged, "rdp").get_epsilon(delta=delta))


def _entries(rounds: Sequence[RoundRecord]) -> list[Entry]:
    # begun-but-unfinished rounds count with their planned steps (the ledger's crash rule).
    return [(r.noise_multiplier, r.sample_rate, r.steps) for r in rounds]


def epsilon_after(
    rounds: Sequence[RoundRecord],
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str,
    relation: str = "add_remove",
) -> float:
    """ε after the ledger's ``rounds`` plus one more round of ``steps`` at ``(σ, q)``."""
    return epsilon(
        [*_entries(rounds), (noise_multiplier, sample_rate, steps)],
        delta=delta,
        accountant=accountant,
        relation=relation,
    )


def rounds_affordable(
    rounds: Sequence[RoundRecord],
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str,
    epsilon_budget: float,
    limit: int = 10_000,
    relation: str = "add_remove",
) -> int:
    """How many more rounds of ``steps`` at ``(σ, q)`` the budget allows, at most ``limit``.

    The largest ``k <= limit`` with ε(``rounds`` + k such rounds) ``<= epsilon_budget``: exactly
    the rounds the budget guard would let start, one after the other, since k equal rounds
    compose into the same merged history the guard builds before round k (:func:`compose`).
    ε grows with k, so a doubling search then bisection takes ``O(log k)`` accountant calls.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"limit must be an int >= 0, got {limit!r}")
    history = _entries(rounds)

    def fits(k: int) -> bool:
        entries = [*history, (noise_multiplier, sample_rate, steps * k)]
        eps = epsilon(entries, delta=delta, accountant=accountant, relation=relation)
        return eps <= epsilon_budget

    if limit == 0 or not fits(1):
        return 0
    low, high = 1, 2  # fits(low); high untested
    while high <= limit and fits(high):
        low, high = high, 2 * high
    if high > limit:
        if low == limit or fits(limit):
            return limit
        high = limit
    while high - low > 1:  # fits(low) and not fits(high)
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def spent_epsilon(
    rounds: Sequence[RoundRecord], *, delta: float, accountant: str, relation: str = "add_remove"
) -> float:
    """ε spent by the ledger's ``rounds`` so far."""
    return epsilon(_entries(rounds), delta=delta, accountant=accountant, relation=relation)


def noise_multiplier_for(config: DPConfig, *, sample_rate: float, steps_per_round: int) -> float:
    """σ for ``config``: given directly, or derived once from ``target_epsilon``.

    The derivation asks Opacus' ``get_noise_multiplier`` for the σ that reaches
    ``target_epsilon`` (within its 0.01 tolerance, from below) after
    ``planned_rounds * steps_per_round`` steps at ``sample_rate``, with the configured
    accountant. Under ``replace_one`` the same search (σ within 0.01, from the safe side) runs
    on :func:`fedseal.dp.replace_one.epsilon_replace_one`. It is deterministic, so every
    restart derives the same σ.
    """
    if config.noise_multiplier is not None:
        return float(config.noise_multiplier)
    require("dp", "opacus")
    from opacus.accountants.utils import get_noise_multiplier

    if config.target_epsilon is None or config.planned_rounds is None:  # pragma: no cover
        raise ConfigError("target_epsilon and planned_rounds are required to derive σ")
    if config.neighbouring_relation == "replace_one":
        return _sigma_replace_one(
            config.target_epsilon,
            delta=config.delta,
            sample_rate=sample_rate,
            steps=config.planned_rounds * steps_per_round,
        )
    return float(
        get_noise_multiplier(
            target_epsilon=config.target_epsilon,
            target_delta=config.delta,
            sample_rate=sample_rate,
            steps=config.planned_rounds * steps_per_round,
            accountant=config.accountant,
        )
    )


def _sigma_replace_one(target: float, *, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest σ on a 0.01 bisection whose replace-one ε is at most ``target``."""

    def eps(sigma: float) -> float:
        with warnings.catch_warnings():  # "optimal order is the smallest alpha" while probing
            warnings.simplefilter("ignore", UserWarning)
            return epsilon_replace_one([(sigma, sample_rate, steps)], delta=delta)

    low, high = 0.05, 10.0  # below σ = 0.05 the quadrature grid grows large; stay above it
    if eps(low) <= target:
        return low
    while eps(high) > target:
        low, high = high, 2.0 * high
        if high > 1e6:
            raise ConfigError(f"no noise multiplier reaches epsilon {target} (replace_one)")
    while high - low > 0.01:
        mid = (low + high) / 2.0
        low, high = (low, mid) if eps(mid) <= target else (mid, high)
    return high
