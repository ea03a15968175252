"""Verify a log before it is reviewed: which entries ``show``, ``export`` and ``report`` may
present as fact, and which must be marked unverified.

The entries of a log are verified in file order (:func:`fedseal.audit.verify_log`); every
entry from the first one that does not verify on is *unverified*, even if it looks intact,
because nothing after a break in the hash chain or a bad checkpoint is bound to the entries
that were verified.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.deployment import DeploymentPlan, LogPlan, plan_deployment
from fedseal.audit.entry import Entry
from fedseal.audit.export import read_entries
from fedseal.audit.gossip import Witnessed
from fedseal.audit.verify import VerifyReport, verify_log
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["Reviewed", "pick_logs", "review_deployment", "review_log"]


@dataclass(frozen=True, slots=True)
class Reviewed:
    """A log's entries and its verification report.

    Attributes
    ----------
    report
        The outcome of :func:`fedseal.audit.verify_log`.
    entries
        Every well-formed complete line, in file order (as :func:`read_entries` returns).
    verified_count
        How many leading entries verified; the rest are unverified.
    skipped
        Malformed lines and a torn tail, not in ``entries``.
    key
        The pinned key the log was verified under, or None.
    """

    report: VerifyReport
    entries: list[Entry]
    verified_count: int
    skipped: int
    key: IdentityPublicKey | None

    @property
    def ok(self) -> bool:
        """True if every entry verified (a torn tail alone still leaves all entries verified)."""
        return self.verified_count == len(self.entries) and self.report.problem is None

    def unverified(self) -> set[int]:
        """The ``id()`` of each unverified entry object (they survive filtering unchanged)."""
        return {id(e) for e in self.entries[self.verified_count :]}

    def banner(self) -> str | None:
        """``UNVERIFIED from seq N: <reason>``, or None if every entry verified."""
        problem = self.report.problem
        if problem is None:
            return None
        return f"UNVERIFIED from seq {problem.seq}: {problem.reason}"

    def pinning(self) -> str:
        """``key <fingerprint>`` or ``key not pinned``, then the witnessed checkpoint count."""
        key = f"key {self.key.fingerprint()}" if self.key is not None else "key not pinned"
        return f"{key}, {self.report.witnessed} checkpoint(s) matched by witnesses"


def review_log(
    path: str | os.PathLike[str],
    *,
    key: IdentityPublicKey | None = None,
    witnesses: Sequence[Checkpoint | Witnessed] = (),
    roster: Mapping[str, IdentityPublicKey] | None = None,
    quorum: int | None = None,
) -> Reviewed:
    """Verify a log, then read its entries and mark which of them verified.

    Parameters
    ----------
    path
        The log file.
    key
        The party's pinned identity public key (as for :func:`fedseal.audit.verify_log`).
    witnesses
        Witnessed checkpoints the log must contain (as for :func:`fedseal.audit.verify_log`).
    roster, quorum
        Co-signers must be roster keys; fewer than ``quorum`` of them is a warning (as for
        :func:`fedseal.audit.verify_log`, never strict here).

    Returns
    -------
    Reviewed
        The report, the entries, and how many leading entries verified.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    report = verify_log(path, key=key, witnesses=witnesses, roster=roster, quorum=quorum)
    entries, skipped = read_entries(path)
    # Lines before the first problem all parsed, so they are the first entries read.
    count = min(report.valid, len(entries)) if report.problem else len(entries)
    return Reviewed(report, entries, count, skipped, key)


def review_deployment(
    folder: str | os.PathLike[str],
    *,
    key: IdentityPublicKey | None = None,
    extra_witnesses: Sequence[Witnessed] = (),
    quorum: int | None = None,
    only: Sequence[str] = (),
) -> tuple[DeploymentPlan, list[tuple[LogPlan, Reviewed]]]:
    """Verify a deployment's logs as ``fedseal audit verify --deployment`` does, for review.

    Parameters
    ----------
    folder
        The provisioned deployment folder (:func:`fedseal.audit.deployment.plan_deployment`).
    key, extra_witnesses, quorum
        As for ``verify --deployment``: override the server's pinned key, add witnesses to
        the server's log, override the co-signature quorum.
    only
        Review these logs only (paths or party names, see :func:`pick_logs`); default all.

    Returns
    -------
    tuple
        The plan (configs, warnings) and each reviewed log with its plan. A log that cannot
        be read is left out, with a warning added to the plan.

    Raises
    ------
    ConfigError
        If ``server/server.toml`` is missing or not TOML, or ``only`` names no log of it.
    """
    plan = plan_deployment(folder, quorum=quorum, key=key, extra_witnesses=list(extra_witnesses))
    out: list[tuple[LogPlan, Reviewed]] = []
    for log in pick_logs(plan, only) if only else plan.logs:
        try:
            reviewed = review_log(
                log.path, key=log.key, witnesses=log.witnesses, roster=log.roster, quorum=log.quorum
            )
        except ConfigError as exc:
            plan.warnings.append(f"{log.party}: {exc}; not reviewed")
            continue
        out.append((log, reviewed))
    return plan, out


def pick_logs(plan: DeploymentPlan, specs: Sequence[str]) -> list[LogPlan]:
    """The logs of ``plan`` that ``specs`` name, each by its party or by its file's path.

    Raises
    ------
    ConfigError
        If a spec names no log of the deployment (a log from elsewhere would be checked
        against keys that are not its own).
    """
    picked: list[LogPlan] = []
    for spec in specs:
        target = Path(spec).resolve()
        match = [p for p in plan.logs if spec == p.party or p.path.resolve() == target]
        if not match:
            parties = ", ".join(p.party for p in plan.logs)
            raise ConfigError(f"{spec} is not a log of the deployment {plan.root} ({parties})")
        picked.extend(m for m in match if m not in picked)
    return picked
