"""The budget guard: refuse a round *before* any noise is drawn if it would exceed ε_max.

DESIGN §5: before a round, the silo computes the ε it would reach after this round from the
ledger's history plus the round's planned ``(σ, q, steps)``. If that exceeds the budget, it
trains nothing, draws no noise, records the refusal and raises
:class:`~fedseal.errors.PrivacyBudgetExceeded` so the agent can tell the server it abstains.

Check and reservation are one ``BEGIN IMMEDIATE`` transaction on the ledger: two processes
sharing a ledger cannot both pass the check on the same history.

:func:`plan_rounds` asks the same question for many rounds ahead: how many more rounds at the
silo's σ, q and steps the remaining budget allows. The silo runner logs and audits it at start
and refuses to start if the answer is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedseal.dp.accounting import epsilon_after, rounds_affordable, spent_epsilon
from fedseal.dp.ledger import PrivacyLedger
from fedseal.errors import PrivacyBudgetExceeded

__all__ = ["ROUNDS_LIMIT", "PrivacyPlan", "Reservation", "plan_rounds", "reserve_round"]

#: The most rounds :func:`plan_rounds` counts (a plan of ``ROUNDS_LIMIT`` means "at least").
ROUNDS_LIMIT = 10_000


@dataclass(frozen=True)
class Reservation:
    """A round that passed the guard; its ``begun`` row is committed and already counts."""

    row_id: int
    round_id: int
    epsilon: float


@dataclass(frozen=True)
class PrivacyPlan:
    """How many more rounds a silo's remaining budget allows at its σ, q and steps per round.

    ``rounds`` is capped at ``limit``; ``rounds == limit`` means "at least that many".
    """

    silo: str
    rounds: int
    limit: int
    noise_multiplier: float
    sample_rate: float
    steps_per_round: int
    epsilon_spent: float
    epsilon_budget: float
    delta: float
    accountant: str
    relation: str = "add_remove"


def plan_rounds(
    ledger: PrivacyLedger,
    *,
    steps: int,
    sample_rate: float,
    noise_multiplier: float,
    limit: int = ROUNDS_LIMIT,
) -> PrivacyPlan:
    """Plan from the ledger's history: the rounds :func:`reserve_round` would still let start.

    Reads the ledger's rounds (one query, so one consistent snapshot); reserves nothing.
    """
    s = ledger.settings
    history = ledger.rounds()
    rounds = rounds_affordable(
        history,
        noise_multiplier=noise_multiplier,
        sample_rate=sample_rate,
        steps=steps,
        delta=s.delta,
        accountant=s.accountant,
        epsilon_budget=s.epsilon_budget,
        limit=limit,
        relation=s.relation,
    )
    return PrivacyPlan(
        silo=s.silo,
        rounds=rounds,
        limit=limit,
        noise_multiplier=noise_multiplier,
        sample_rate=sample_rate,
        steps_per_round=steps,
        epsilon_spent=spent_epsilon(
            history, delta=s.delta, accountant=s.accountant, relation=s.relation
        ),
        epsilon_budget=s.epsilon_budget,
        delta=s.delta,
        accountant=s.accountant,
        relation=s.relation,
    )


def reserve_round(
    ledger: PrivacyLedger,
    *,
    round_id: int,
    steps: int,
    sample_rate: float,
    noise_multiplier: float,
    max_grad_norm: float,
) -> Reservation:
    """Check the budget and, if it allows the round, commit its ``begun`` row.

    Returns
    -------
    Reservation
        The ledger row to mark done after training, and ε after this round.

    Raises
    ------
    PrivacyBudgetExceeded
        If ε after this round would exceed the ledger's ``epsilon_budget``. The refusal is
        committed to the ledger first; nothing else changes.
    """
    settings = ledger.settings
    with ledger.exclusive():
        eps = epsilon_after(
            ledger.rounds(),
            noise_multiplier=noise_multiplier,
            sample_rate=sample_rate,
            steps=steps,
            delta=settings.delta,
            accountant=settings.accountant,
            relation=settings.relation,
        )
        refused = eps > settings.epsilon_budget
        if refused:
            ledger.record_refusal(round_id=round_id, epsilon_would_be=eps)
        else:
            row_id = ledger.begin_round(
                round_id=round_id,
                steps=steps,
                sample_rate=sample_rate,
                noise_multiplier=noise_multiplier,
                max_grad_norm=max_grad_norm,
                epsilon=eps,
            )
    if refused:
        raise PrivacyBudgetExceeded(
            f"silo {settings.silo!r} abstains from round {round_id}: epsilon would reach "
            f"{eps:.4f} > budget {settings.epsilon_budget:g} "
            f"(delta={settings.delta:g}, accountant={settings.accountant}, "
            f"relation={settings.relation})"
        )
    return Reservation(row_id=row_id, round_id=round_id, epsilon=eps)
