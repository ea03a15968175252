"""Verify an audit log and locate the first entry that does not verify.

Checks, in file order (``docs/audit-format.md`` §11): each line is canonical JSON with the entry
schema; ``seq`` is gapless from 0; ``prev`` is the SHA-256 of the previous line; one ``party``
per log; every ``checkpoint`` entry covers exactly the entries before it, its RFC 6962 root
(RFC 6962 §2.1) matches, and its Ed25519 signature verifies under the pinned key (or, unpinned,
under one consistent key); every ``checkpoint_cosigned`` entry verifies. Then each checkpoint a
witness co-signed must appear unchanged at ``seq == size`` (RFC 9162 §8.1.4-style gossip).

A last line without its LF, or a last line that is not JSON, is a *torn tail* (a crash during
``append``), reported separately: the entries before it still verify.

The pieces: :mod:`fedseal.audit.scan` (torn-line rule, the entry-by-entry pass),
:mod:`fedseal.audit.gossip` (which witnessed checkpoints to keep, and how they contradict the
log), :mod:`fedseal.audit.roster` (quorum), :mod:`fedseal.audit.verdict` (the report).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.gossip import Witnessed, compare, select
from fedseal.audit.roster import under_witnessed
from fedseal.audit.scan import Scan, first_value, split_lines
from fedseal.audit.verdict import LogState, Problem, VerifyReport
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["LogState", "Problem", "VerifyReport", "split_lines", "verify_bytes", "verify_log"]


def verify_bytes(
    data: bytes,
    *,
    key: IdentityPublicKey | None = None,
    witnesses: Sequence[Checkpoint | Witnessed] = (),
    roster: Mapping[str, IdentityPublicKey] | None = None,
    quorum: int | None = None,
    strict: bool = False,
) -> tuple[VerifyReport, LogState]:
    """Verify the contents of a log file; see :func:`fedseal.audit.verify_log` for the API."""
    lines, tail, torn_reason = split_lines(data)
    kept, implied, warnings = select(
        witnesses, first_value(lines[0], "party") if lines else None, key
    )
    by_key = None if roster is None else {k: name for name, k in roster.items()}
    scan = Scan(lines, implied, by_key)
    scan.report.warnings.extend(warnings)
    scan.run()
    report, state = scan.report, scan.state
    report.torn_bytes, report.torn_reason = len(tail), torn_reason
    if implied is None and report.checkpoints:
        report.warnings.append("no pinned key: checkpoints checked only against the log's own key")
    if key is not None and not report.checkpoints and report.valid:
        # Nothing in the log is signed, so nothing in it shows the pinned key made it.
        report.warnings.append(
            f"the pinned key {key.fingerprint()} was not checked: the log has no valid checkpoint"
        )
    limit = report.problem.seq if report.problem else report.valid
    report.witnessed, contradiction = compare(kept, state.checkpoints, limit)
    if contradiction and (report.problem is None or contradiction[0] < report.problem.seq):
        scan.fail(*contradiction)
    if roster is not None:
        _check_quorum(scan, len(roster) if quorum is None else quorum, strict)
    return report, state


def _check_quorum(scan: Scan, quorum: int, strict: bool) -> None:
    report = scan.report
    report.quorum = quorum
    limit = report.problem.seq if report.problem else report.valid
    valid = [seq for seq in scan.state.checkpoints if seq < limit]
    report.under_witnessed = under_witnessed(valid, scan.cosigners, quorum)
    for seq, count in report.under_witnessed:
        reason = f"checkpoint co-signed by {count} roster silo(s), quorum {quorum}: under-witnessed"
        if strict and report.problem is None:
            scan.fail(seq, reason)
        elif not strict:
            report.warnings.append(f"seq {seq}: {reason}")


def verify_log(
    path: str | os.PathLike[str],
    *,
    key: IdentityPublicKey | None = None,
    witnesses: Sequence[Checkpoint | Witnessed] = (),
    roster: Mapping[str, IdentityPublicKey] | None = None,
    quorum: int | None = None,
    strict: bool = False,
) -> VerifyReport:
    """Verify an audit log file.

    Parameters
    ----------
    path
        The log file.
    key
        The party's pinned identity public key; every checkpoint must be signed by it.
    witnesses
        Checkpoints a witness co-signed (``load_checkpoints(file)``, or
        :class:`~fedseal.audit.gossip.Witnessed` to name their source); each of this party's
        must appear unchanged in the log. Every one ignored is named in ``report.warnings``.
    roster
        Silo name -> identity key. If given, a co-signature by a key outside it is an error,
        and checkpoints with fewer than ``quorum`` distinct roster co-signers are listed in
        ``report.under_witnessed`` (and warned about).
    quorum
        Co-signers each checkpoint needs (default: every roster silo; the CLI passes the
        deployment's threshold ``t``, :func:`fedseal.audit.roster.default_quorum`).
    strict
        Make an under-witnessed checkpoint an integrity problem instead of a warning.

    Returns
    -------
    VerifyReport
        ``report.ok``, ``report.summary()`` and ``report.problem`` (first bad ``seq`` and why).

    Raises
    ------
    ConfigError
        If the file cannot be read.

    Warnings
    --------
    Without ``key`` or ``witnesses``, a party that rewrote its whole log and re-signed every
    checkpoint with a new key produces a log that verifies. Pin the key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read audit log {path}: {exc.strerror}") from None
    return verify_bytes(
        data, key=key, witnesses=witnesses, roster=roster, quorum=quorum, strict=strict
    )[0]
