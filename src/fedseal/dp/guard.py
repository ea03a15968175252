"""The budget guard: refuse a round *before* any noise is drawn if it would exceed ε_max.

DESIGN §5: before a round, the silo computes the ε it would reach after this round from the
ledger's history plus the round's planned ``(σ, q, steps)``. If that exceeds the budget, it
trains nothing, draws no noise, records the refusal and raises
:class:`~fedseal.errors.PrivacyBudgetExceeded` so the agent can tell the server it abstains.

Check and reservation are one ``BEGIN IMMEDIATE`` transaction on the ledger: two processes
sharing a ledger cannot both pass the check on the same history.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedseal.dp.accounting import epsilon_after
from fedseal.dp.ledger import PrivacyLedger
from fedseal.errors import PrivacyBudgetExceeded

__all__ = ["Reservation", "reserve_round"]


@dataclass(frozen=True)
class Reservation:
    """A round that passed the guard; its ``begun`` row is committed and already counts."""

    row_id: int
    round_id: int
    epsilon: float


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
            f"(delta={settings.delta:g}, accountant={settings.accountant})"
        )
    return Reservation(row_id=row_id, round_id=round_id, epsilon=eps)
