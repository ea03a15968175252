"""The entry-by-entry pass of verification (``docs/audit-format.md`` §11 steps 1 and 3).

:func:`split_lines` applies the torn-line rule (§10); :class:`Scan` walks the complete lines in
file order and stops at the first that does not verify: canonical JSON with the entry schema,
gapless ``seq``, the hash chain, one ``party``, every ``checkpoint`` (size, RFC 6962 root,
Ed25519 signature under the expected key) and every ``checkpoint_cosigned`` (names an earlier
checkpoint, verifies, and is by a roster key when a roster is given). Blame follows §11 step 3:
an inserted, deleted or altered line is named, not merely the line after it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from fedseal.audit.canonical import loads as canonical_loads
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.entry import Entry, parse_entry
from fedseal.audit.events import CHECKPOINT, CHECKPOINT_COSIGNED, SUCCESS
from fedseal.audit.merkle import leaf_hash
from fedseal.audit.verdict import LogState, Problem, VerifyReport
from fedseal.errors import AuditIntegrityError, AuthenticationError, ConfigError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["Scan", "first_value", "split_lines"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


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


def first_value(line: bytes, name: str = "prev") -> str | None:
    """The string member ``name`` of ``line`` if it is valid JSON holding one, else None."""
    try:
        obj = canonical_loads(line)
    except ValueError:
        return None
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


class Scan:
    """One pass over ``lines`` under an expected ``key`` and an optional roster (by key).

    After :meth:`run`, ``report`` holds the counts and the first problem, ``state`` the
    verified prefix, ``cosigners`` each valid checkpoint's co-signing keys (by its ``seq``).
    """

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
        """Record the problem: ``seq`` is blamed for ``reason``."""
        self.report.problem = Problem(seq, seq + 1, reason)
        self.report.valid = min(self.report.valid, seq)

    def run(self) -> None:
        """Check every line in order; stop at the first failure (§11 step 3)."""
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
        """Steps 3b-3d: ``seq``, ``prev`` and ``party``; False (with blame) if broken."""
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
            elif j + 1 < len(self.lines) and first_value(self.lines[j + 1]) != entry.digest:
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
        """Steps 3e-3f: why a checkpoint or co-signature entry is invalid, or None."""
        if entry.event == CHECKPOINT:
            self.report.checkpoints += 1
            reason = self.check_checkpoint(j, entry)
            self.report.checkpoints_valid += reason is None
            return reason
        if entry.event == CHECKPOINT_COSIGNED:
            d = entry.details
            if sorted(d) != ["checkpoint_seq", "signature", "witness"]:
                return "co-signature details must be exactly checkpoint_seq, signature, witness"
            if entry.round is not None or entry.outcome != SUCCESS:
                return "a co-signature entry has round null and outcome success"
            witness_hex, signature_hex = d["witness"], d["signature"]
            if not (
                isinstance(witness_hex, str) and _HEX64.fullmatch(witness_hex)
                and isinstance(signature_hex, str) and _HEX128.fullmatch(signature_hex)
            ):  # fmt: skip
                return "co-signature witness and signature must be lower-case hex (64 and 128)"
            target = d["checkpoint_seq"]
            cp = (
                self.state.checkpoints.get(target)
                if isinstance(target, int) and not isinstance(target, bool)
                else None
            )
            if cp is None:
                return "co-signature refers to no earlier checkpoint entry"
            try:
                witness = IdentityPublicKey(bytes.fromhex(witness_hex))
                cp.verify_cosignature(witness, bytes.fromhex(signature_hex))
            except (ValueError, ConfigError, AuthenticationError):
                return "co-signature does not verify"
            if self.roster is not None and witness not in self.roster:
                return f"co-signature by key {witness.fingerprint()}, which is not in the roster"
            self.cosigners.setdefault(cp.size, set()).add(witness)
            self.report.cosignatures += 1
        return None

    def check_checkpoint(self, j: int, entry: Entry) -> str | None:
        """Step 3e: why a ``checkpoint`` entry at seq ``j`` is invalid, or None."""
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
