"""Verify an audit log and locate the first entry that does not verify.

Checks, in file order (``docs/audit-format.md`` §7): each line is canonical JSON with the entry
schema; ``seq`` is gapless from 0; ``prev`` is the SHA-256 of the previous line; one ``party``
per log; every ``checkpoint`` entry covers exactly the entries before it, its RFC 6962 root
(RFC 6962 §2.1) matches, and its Ed25519 signature verifies under the pinned key (or, unpinned,
under one consistent key); every ``checkpoint_cosigned`` entry verifies. Then each checkpoint a
witness co-signed must appear unchanged at ``seq == size`` (RFC 9162 §8.1.4-style gossip).

A last line without its LF, or a last line that is not JSON, is a *torn tail* (a crash during
``append``), reported separately: the entries before it still verify.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fedseal.audit.canonical import loads as canonical_loads
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.entry import ZERO_HASH, Entry, parse_entry
from fedseal.audit.events import CHECKPOINT, CHECKPOINT_COSIGNED
from fedseal.audit.gossip import Witnessed, compare, select
from fedseal.audit.merkle import CompactRange, leaf_hash
from fedseal.audit.roster import under_witnessed
from fedseal.errors import AuditIntegrityError, AuthenticationError, ConfigError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["LogState", "Problem", "VerifyReport", "split_lines", "verify_bytes", "verify_log"]


@dataclass(frozen=True, slots=True)
class Problem:
    """The first entry that does not verify: its ``seq``, 1-based line number, and why."""

    seq: int
    line: int
    reason: str


@dataclass(slots=True)
class VerifyReport:
    """Outcome of verifying one log. ``ok`` is True only if nothing is wrong at all."""

    party: str | None = None
    entries: int = 0
    valid: int = 0
    checkpoints: int = 0
    checkpoints_valid: int = 0
    cosignatures: int = 0
    witnessed: int = 0
    torn_bytes: int = 0
    torn_reason: str = ""
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)
    under_witnessed: list[tuple[int, int]] = field(default_factory=list)
    quorum: int | None = None

    @property
    def ok(self) -> bool:
        """No problem and no torn tail."""
        return self.problem is None and self.torn_bytes == 0

    @property
    def exit_status(self) -> int:
        """0 if ok, 1 for an integrity problem, 3 for a torn tail after a valid prefix."""
        return 1 if self.problem else (3 if self.torn_bytes else 0)

    def summary(self) -> str:
        """``N/N entries valid, K/K checkpoints signed``, preceded by the problem if any."""
        counts = (
            f"{self.valid}/{self.entries} entries valid, "
            f"{self.checkpoints_valid}/{self.checkpoints} checkpoints signed"
        )
        lines = []
        if self.problem:
            p = self.problem
            lines.append(f"seq {p.seq} (line {p.line}): {p.reason}")
        lines.append(counts)
        if self.torn_bytes and not self.problem:
            lines.append(
                f"torn last line: {self.torn_bytes} bytes after seq {self.valid - 1} "
                f"({self.torn_reason}); run `fedseal audit repair`"
            )
        return "\n".join(lines)


@dataclass(slots=True)
class LogState:
    """What ``AuditLog`` needs to resume appending after a verified prefix."""

    leaves: list[bytes] = field(default_factory=list)
    tree: CompactRange = field(default_factory=CompactRange)
    last_digest: str = ZERO_HASH
    last_time: str = ""
    signer: IdentityPublicKey | None = None
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    valid_bytes: int = 0


def split_lines(data: bytes) -> tuple[list[bytes], bytes, str]:
    """Split a log file into complete lines (without LF) and a torn tail.

    Returns ``(lines, tail, reason)``; ``tail`` is empty when nothing is torn.
    """
    end = data.rfind(b"\n") + 1
    lines, tail = data[:end].split(b"\n")[:-1], data[end:]
    if tail:
        return lines, tail, "no trailing newline"
    if lines:
        try:
            canonical_loads(lines[-1])
        except ValueError:
            return lines[:-1], lines[-1] + b"\n", "last line is not valid JSON"
    return lines, b"", ""


def _prev_of(line: bytes, name: str = "prev") -> str | None:
    try:
        obj = canonical_loads(line)
    except ValueError:
        return None
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


class _Scan:
    def __init__(
        self,
        lines: list[bytes],
        key: IdentityPublicKey | None,
        roster: Mapping[IdentityPublicKey, str] | None = None,
    ) -> None:
        self.lines, self.key, self.roster = lines, key, roster
        self.report, self.state = VerifyReport(entries=len(lines)), LogState()
        self.cosigners: dict[int, set[IdentityPublicKey]] = {}

    def fail(self, seq: int, reason: str) -> None:
        self.report.problem = Problem(seq, seq + 1, reason)
        self.report.valid = min(self.report.valid, seq)

    def run(self) -> None:
        for j, line in enumerate(self.lines):
            try:
                entry = parse_entry(line)
            except ValueError as exc:
                return self.fail(j, f"malformed entry: {exc}")
            if not self.check_link(j, entry):
                return None
            reason = self.check_event(j, entry)
            if reason:
                return self.fail(j, reason)
            digest = hashlib.sha256(line).hexdigest()
            self.state.leaves.append(leaf_hash(line))
            self.state.tree.append(self.state.leaves[-1])
            self.state.last_digest, self.state.last_time = digest, entry.time
            self.state.valid_bytes += len(line) + 1
            self.report.valid = j + 1
        return None

    def check_link(self, j: int, entry: Entry) -> bool:
        if entry.seq != j:
            inserted = entry.seq == j - 1 and entry.prev != self.state.last_digest
            if inserted:  # a second seq j-1 that does not chain to the first: one was inserted
                self.fail(j - 1, f"seq {j - 1} appears twice (lines {j} and {j + 1}): inserted")
            else:
                self.fail(j, f"expected seq {j}, found {entry.seq}: deleted, reordered or edited")
            return False
        if entry.prev != self.state.last_digest:
            if j == 0:
                self.fail(0, "the first entry's prev must be all zeros")
            elif j + 1 < len(self.lines) and _prev_of(self.lines[j + 1]) != entry.digest:
                self.fail(j, f"prev does not match seq {j - 1}, nor does seq {j + 1}: altered")
            else:
                last = j + 1 == len(self.lines)
                suffix = f" (or seq {j}'s prev was altered)" if last else ""
                self.fail(j - 1, f"does not hash to the prev recorded by seq {j}: altered{suffix}")
            return False
        if self.report.party is None:
            self.report.party = entry.party
        elif entry.party != self.report.party:
            self.fail(j, f"party {entry.party!r} in a log of {self.report.party!r}")
            return False
        return True

    def check_event(self, j: int, entry: Entry) -> str | None:
        if entry.event == CHECKPOINT:
            self.report.checkpoints += 1
            reason = self.check_checkpoint(j, entry)
            self.report.checkpoints_valid += reason is None
            return reason
        if entry.event == CHECKPOINT_COSIGNED:
            d = entry.details
            target = d.get("checkpoint_seq")
            cp = self.state.checkpoints.get(target) if isinstance(target, int) else None
            if cp is None:
                return "co-signature refers to no earlier checkpoint entry"
            try:
                witness = IdentityPublicKey(bytes.fromhex(str(d.get("witness"))))
                cp.verify_cosignature(witness, bytes.fromhex(str(d.get("signature"))))
            except (ValueError, ConfigError, AuthenticationError):
                return "co-signature does not verify"
            if self.roster is not None and witness not in self.roster:
                return f"co-signature by key {witness.fingerprint()}, which is not in the roster"
            self.cosigners.setdefault(cp.size, set()).add(witness)
            self.report.cosignatures += 1
        return None

    def check_checkpoint(self, j: int, entry: Entry) -> str | None:
        record = dict(entry.details, party=entry.party, time=entry.time)
        if sorted(entry.details) != ["root", "signature", "signer", "size"]:
            return "checkpoint details must be exactly root, signature, signer, size"
        try:
            cp = Checkpoint.from_record(record)
        except (AuditIntegrityError, ValueError) as exc:
            return f"malformed checkpoint: {exc}"
        if cp.size != j:
            return f"checkpoint size {cp.size} must equal its seq {j}"
        if cp.root != self.state.tree.root():
            return "checkpoint root does not match the entries before it"
        expected = self.key or self.state.signer
        if expected is not None and cp.signer != expected:
            got, want = cp.signer.fingerprint(), expected.fingerprint()
            return f"checkpoint signed by key {got}, but the expected key is {want}"
        try:
            cp.verify()
        except AuthenticationError:
            return "checkpoint signature does not verify"
        self.state.signer = cp.signer
        self.state.checkpoints[j] = cp
        return None


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
    kept, implied, warnings = select(witnesses, _prev_of(lines[0], "party") if lines else None, key)
    by_key = None if roster is None else {k: name for name, k in roster.items()}
    scan = _Scan(lines, implied, by_key)
    scan.report.warnings.extend(warnings)
    scan.run()
    report, state = scan.report, scan.state
    report.torn_bytes, report.torn_reason = len(tail), torn_reason
    if implied is None and report.checkpoints:
        report.warnings.append("no pinned key: checkpoints checked only against the log's own key")
    limit = report.problem.seq if report.problem else report.valid
    report.witnessed, contradiction = compare(kept, state.checkpoints, limit)
    if contradiction and (report.problem is None or contradiction[0] < report.problem.seq):
        scan.fail(*contradiction)
    if roster is not None:
        _check_quorum(scan, len(roster) if quorum is None else quorum, strict)
    return report, state


def _check_quorum(scan: _Scan, quorum: int, strict: bool) -> None:
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
