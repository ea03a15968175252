"""The per-silo differential-privacy settings, validated once at the boundary.

A silo runs DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016) with
per-example clipping at ``max_grad_norm`` and Gaussian noise of standard deviation
``noise_multiplier * max_grad_norm``. The noise multiplier is either given directly or derived
*once for the whole deployment* from ``target_epsilon`` and the planned number of rounds (see
:func:`fedseal.dp.accounting.noise_multiplier_for`), never per round.

This module imports only the standard library so that ``import fedseal.dp`` stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from fedseal.errors import ConfigError

__all__ = ["RELATION_TEXT", "AccountantName", "DPConfig", "NeighbouringRelation"]

AccountantName = Literal["rdp", "prv"]
_ACCOUNTANTS: tuple[str, ...] = get_args(AccountantName)

#: Which data sets count as neighbours in the (ε, δ) promise.
NeighbouringRelation = Literal["add_remove", "replace_one"]
_RELATIONS: tuple[str, ...] = get_args(NeighbouringRelation)

#: How reports and logs name each relation.
RELATION_TEXT: dict[str, str] = {
    "add_remove": "add/remove one record",
    "replace_one": "replace one record by another",
}


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class DPConfig:
    """Differential-privacy settings of one silo for the whole deployment.

    Parameters
    ----------
    epsilon_budget : float
        The most ε this silo will ever spend (over all rounds). A round that would take ε past
        it is refused before any noise is drawn.
    noise_multiplier : float, optional
        σ, the noise standard deviation in units of ``max_grad_norm``. Give exactly one of
        ``noise_multiplier`` and ``target_epsilon``.
    target_epsilon : float, optional
        ε to reach after ``planned_rounds`` rounds; σ is derived from it once (by the chosen
        accountant) and then kept for every round. Must not exceed ``epsilon_budget``.
    planned_rounds : int, optional
        Required with ``target_epsilon``: how many rounds the deployment plans to run.
    max_grad_norm : float
        Per-example clipping bound C (L2 norm of each example's gradient).
    delta : float
        δ of the (ε, δ) guarantee, ``0 < delta < 1``; choose it well below ``1 / n_examples``.
    accountant : {"rdp", "prv"}
        Opacus accountant: Rényi DP (Mironov 2017) or privacy random variables (Gopi et al. 2021).
    neighbouring_relation : {"add_remove", "replace_one"}
        Which data sets the (ε, δ) promise treats as neighbours (default ``"add_remove"``, the
        relation Opacus analyses). ``"replace_one"`` protects one record swapped for another,
        the relation to promise when the silo's data set size is public; it is accounted by
        :mod:`fedseal.dp.replace_one` and needs ``accountant="rdp"``. Fixed for the life of the
        silo's ledger.
    secure_rng : bool
        Draw the DP noise and the Poisson sampling decisions from a CSPRNG (default). ``False``
        uses torch's default generator and is for experiments only.
    sample_rate : float, optional
        q, the Poisson sampling rate, declared for the deployment (``0 < q <= 1``). When
        given, the trainer uses it instead of ``batch_size / n``, so that ``q`` (which the
        accounting report states) does not depend on the silo's live record count.
    allow_budget_increase : bool
        Let :meth:`~fedseal.dp.ledger.PrivacyLedger.open` raise the ``epsilon_budget`` stored in
        an existing ledger to this config's value (default False: raising is refused). Lowering
        the budget is always allowed. Every change is a ledger row, audited at silo start and
        shown in the privacy report.

    Raises
    ------
    ConfigError
        Naming the offending parameter, for any value out of range.

    Warnings
    --------
    ``secure_rng=False`` voids the guarantee against an adversary who can predict or recover
    torch's Mersenne-Twister state. Never use it in a deployment.

    ``allow_budget_increase=True`` is meant for the one start that raises the budget; left on,
    it lets every later config raise it again (each raise is still recorded and reported).
    """

    epsilon_budget: float
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    planned_rounds: int | None = None
    max_grad_norm: float = 1.0
    delta: float = 1e-5
    accountant: AccountantName = "rdp"
    secure_rng: bool = True
    sample_rate: float | None = None
    allow_budget_increase: bool = False
    neighbouring_relation: NeighbouringRelation = "add_remove"

    def __post_init__(self) -> None:
        _positive("epsilon_budget", self.epsilon_budget)
        _positive("max_grad_norm", self.max_grad_norm)
        if isinstance(self.delta, bool) or not isinstance(self.delta, int | float):
            raise ConfigError(f"delta must be a number, got {self.delta!r}")
        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"delta must satisfy 0 < delta < 1, got {self.delta!r}")
        if self.accountant not in _ACCOUNTANTS:
            raise ConfigError(
                f"accountant must be one of {', '.join(_ACCOUNTANTS)}, got {self.accountant!r}"
            )
        if self.neighbouring_relation not in _RELATIONS:
            raise ConfigError(
                f"neighbouring_relation must be one of {', '.join(_RELATIONS)}, "
                f"got {self.neighbouring_relation!r}"
            )
        if self.neighbouring_relation == "replace_one" and self.accountant != "rdp":
            raise ConfigError(
                "neighbouring_relation 'replace_one' is accounted with Rényi DP only: "
                "set accountant = 'rdp' (Opacus' PRV accountant analyses add/remove)"
            )
        if not isinstance(self.secure_rng, bool):
            raise ConfigError(f"secure_rng must be a bool, got {self.secure_rng!r}")
        if not isinstance(self.allow_budget_increase, bool):
            raise ConfigError(
                f"allow_budget_increase must be a bool, got {self.allow_budget_increase!r}"
            )
        if self.sample_rate is not None and (
            isinstance(self.sample_rate, bool)
            or not isinstance(self.sample_rate, int | float)
            or not 0.0 < self.sample_rate <= 1.0
        ):
            raise ConfigError(
                f"sample_rate must satisfy 0 < sample_rate <= 1, got {self.sample_rate!r}"
            )
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ConfigError("give exactly one of noise_multiplier and target_epsilon")
        if self.noise_multiplier is not None:
            _positive("noise_multiplier", self.noise_multiplier)
            if self.planned_rounds is not None:
                raise ConfigError("planned_rounds is only used with target_epsilon")
            return
        target = _positive("target_epsilon", self.target_epsilon)
        if target > self.epsilon_budget:
            raise ConfigError(
                f"target_epsilon ({target}) must not exceed epsilon_budget ({self.epsilon_budget})"
            )
        rounds = self.planned_rounds
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ConfigError(
                f"planned_rounds must be an int >= 1 with target_epsilon, got {rounds!r}"
            )
