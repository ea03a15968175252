"""What verifying a log yields: the first problem, the report, and the state to resume from.

:class:`VerifyReport` is the outcome ``fedseal audit verify`` prints (``docs/audit-format.md``
§11 step 6); :class:`LogState` is what :class:`fedseal.audit.AuditLog` needs to keep appending
after a verified prefix (leaf hashes, the compact Merkle range, the last digest, checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.entry import ZERO_HASH
from fedseal.audit.merkle import CompactRange
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["LogState", "Problem", "VerifyReport"]


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
