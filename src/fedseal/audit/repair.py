"""Cut a torn last line off an audit log, and record that the cut happened.

After a crash (kill -9, power loss) the last ``append`` may have left a partial line. Such an
entry was never acknowledged (``append`` returns only after the whole line is fsynced), so
cutting it loses nothing that was promised. The repair itself is audited: a ``log_repaired``
entry records how many bytes were cut and their SHA-256, never the bytes
(``docs/audit-format.md`` §10). Anything other than a torn tail is refused: an edited or
reordered log must be investigated, not "repaired".
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fedseal.audit.entry import Entry, utc_now
from fedseal.audit.events import LOG_REPAIRED, SUCCESS
from fedseal.audit.log import AuditLog
from fedseal.audit.verify import verify_bytes
from fedseal.errors import AuditIntegrityError, ConfigError

__all__ = ["RepairResult", "repair_log"]


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :func:`repair_log` cut, and the entry that records it."""

    cut_bytes: int
    cut_sha256: str
    entry: Entry


def repair_log(
    path: str | os.PathLike[str],
    *,
    party: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RepairResult | None:
    """Truncate a torn last line and append a ``log_repaired`` entry.

    Parameters
    ----------
    path
        The log file.
    party
        Needed only when no complete entry survives (the party is otherwise read from the log).
    clock
        Time source for the repair entry.

    Returns
    -------
    RepairResult or None
        None if there was nothing to repair (the log verifies as it is).

    Raises
    ------
    AuditIntegrityError
        If the log has a problem other than a torn tail (repair refuses to hide it).
    ConfigError
        If the file is missing, held by a writer, or ``party`` is needed and not given.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no such audit log: {file}")
    fd = os.open(file, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{file} is open for writing by another process") from None
        data = file.read_bytes()
        report, state = verify_bytes(data)
        if report.problem is not None:
            raise AuditIntegrityError(
                f"{file}: {report.summary()}\nrepair only cuts a torn last line; "
                "this log needs investigation, not repair"
            )
        if not report.torn_bytes:
            return None
        owner = report.party or party
        if owner is None:
            raise ConfigError("no complete entry survives; pass the log's party")
        cut = data[state.valid_bytes :]
        os.ftruncate(fd, state.valid_bytes)
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock
    digest = hashlib.sha256(cut).hexdigest()
    details = {"cut_bytes": len(cut), "cut_sha256": digest, "reason": report.torn_reason}
    with AuditLog(file, party=owner, clock=clock) as log:
        entry = log._record(LOG_REPAIRED, round=None, outcome=SUCCESS, details=details)
    return RepairResult(len(cut), digest, entry)
