"""Verify a log before it is reviewed: which entries ``show``, ``export`` and ``report`` may
present as fact, and which must be marked unverified.

The entries of a log are verified in file order (:func:`fedseal.audit.verify_log`); every
entry from the first one that does not verify on is *unverified*, even if it looks intact,
because nothing after a break in the hash chain or a bad checkpoint is bound to the entries
that were verified.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.entry import Entry
from fedseal.audit.export import read_entries
from fedseal.audit.gossip import Witnessed
from fedseal.audit.verify import VerifyReport, verify_log
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["Reviewed", "review_log"]


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

    Returns
    -------
    Reviewed
        The report, the entries, and how many leading entries verified.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    report = verify_log(path, key=key, witnesses=witnesses)
    entries, skipped = read_entries(path)
    # Lines before the first problem all parsed, so they are the first entries read.
    count = min(report.valid, len(entries)) if report.problem else len(entries)
    return Reviewed(report, entries, count, skipped, key)
