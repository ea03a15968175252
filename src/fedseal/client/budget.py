"""At silo start: audit changes of the ε budget, and plan the rounds the remaining budget allows.

Two checks :func:`fedseal.client.run.run_silo` makes after the app is loaded (which opens the
silo's privacy ledger, recording any budget change) and before the silo connects:

* :func:`audit_budget_changes` writes each budget change of ``privacy-ledger.sqlite3`` in the
  silo's state directory that the audit log does not have yet as a ``config_changed`` event,
  then marks it audited in the ledger. A crash in between audits a change twice at the next
  start, never not at all.
* :func:`check_privacy_plan` asks a DP app how many more rounds its remaining budget allows at
  its σ, q and steps, logs and audits the answer (``dp_plan``), and refuses to start if not one
  round fits: a silo that cannot train would only hold up the others' rounds.

An app takes part in the plan by having a method ``privacy_plan()`` that returns a
:class:`fedseal.dp.guard.PrivacyPlan` (e.g. :meth:`fedseal.dp.PrivateTrainer.privacy_plan`)
or None; apps without DP need nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.client.app import SiloApp
from fedseal.dp.guard import PrivacyPlan
from fedseal.dp.ledger import LEDGER_FILENAME, PrivacyLedger
from fedseal.errors import ConfigError

__all__ = ["audit_budget_changes", "check_privacy_plan"]

log = logging.getLogger(__name__)


def audit_budget_changes(audit: AuditLog | None, *, silo: str, state_dir: Path) -> int:
    """Audit the ledger's budget changes not audited yet; return how many were written.

    Does nothing (returns 0) without an audit log or without a ledger in ``state_dir``.
    """
    path = Path(state_dir) / LEDGER_FILENAME
    if audit is None or not path.is_file():
        return 0
    written = 0
    with PrivacyLedger.attach(path) as ledger:
        for change in ledger.budget_changes():
            if change.audited_utc is not None:
                continue
            level = logging.WARNING if change.increase else logging.INFO
            log.log(
                level,
                "privacy budget %s from epsilon=%g to %g (%s)",
                "raised" if change.increase else "lowered",
                change.old_budget,
                change.new_budget,
                change.time_utc,
            )
            audit.append(
                ev.CONFIG_CHANGED,
                details={
                    "silo": silo,
                    "setting": "epsilon_budget",
                    "old": change.old_budget,
                    "new": change.new_budget,
                    "increase": change.increase,
                    "changed_utc": change.time_utc,
                },
            )
            ledger.mark_budget_changes_audited(change.row_id)
            written += 1
    return written


def _details(plan: PrivacyPlan) -> dict[str, object]:
    return {
        "silo": plan.silo,
        "rounds_affordable": plan.rounds,
        "rounds_limit": plan.limit,
        "noise_multiplier": plan.noise_multiplier,
        "sample_rate": plan.sample_rate,
        "steps": plan.steps_per_round,
        "epsilon_spent": plan.epsilon_spent,
        "epsilon_budget": plan.epsilon_budget,
        "delta": plan.delta,
        "accountant": plan.accountant,
        "neighbouring_relation": plan.relation,
    }


def check_privacy_plan(app: SiloApp, *, audit: AuditLog | None) -> PrivacyPlan | None:
    """Log and audit how many rounds the app's remaining privacy budget allows.

    Returns
    -------
    PrivacyPlan or None
        None if the app has no ``privacy_plan`` method or it returns None (no DP).

    Raises
    ------
    ConfigError
        If not one round fits the remaining budget (audited as ``dp_plan`` with outcome
        ``refused`` first), or ``privacy_plan()`` returns something else than a plan.
    """
    planner = getattr(app, "privacy_plan", None)
    if not callable(planner):
        return None
    plan = planner()
    if plan is None:
        return None
    if not isinstance(plan, PrivacyPlan):
        raise ConfigError(
            f"the app's privacy_plan() must return a PrivacyPlan or None, got {type(plan).__name__}"
        )
    at = (
        f"sigma={plan.noise_multiplier:.4g}, q={plan.sample_rate:.4g}, "
        f"{plan.steps_per_round} steps per round"
    )
    spent = (
        f"epsilon spent {plan.epsilon_spent:.4f} of budget {plan.epsilon_budget:g}, "
        f"delta={plan.delta:g}, accountant={plan.accountant}, relation={plan.relation}"
    )
    if plan.rounds == 0:
        if audit is not None:
            audit.append(ev.DP_PLAN, outcome=ev.REFUSED, details=_details(plan))
        raise ConfigError(
            f"silo {plan.silo!r}: the remaining privacy budget does not allow a single round at "
            f"{at} ({spent}); raise epsilon_budget with allow_budget_increase = true in "
            "silo.toml [dp], or start a new deployment"
        )
    count = f"at least {plan.rounds}" if plan.rounds >= plan.limit else str(plan.rounds)
    log.info("privacy budget allows %s more rounds at %s (%s)", count, at, spent)
    if audit is not None:
        audit.append(ev.DP_PLAN, details=_details(plan))
    return plan
