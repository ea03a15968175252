"""The append-only audit log of one party: hash-chained, Merkle-checkpointed, fsynced.

Theory of operation (``docs/audit-format.md`` has the byte-level format):

* ``append`` builds the next entry (``seq``, clock ``time``, ``prev`` = SHA-256 of the previous
  line), writes its canonical JSON plus LF with one ``write(2)`` on an ``O_APPEND`` descriptor,
  and ``fsync``\\ s before returning, so an entry is durable before the action it records is
  acknowledged. Inside ``with log.batch():`` the fsync happens once, at the end.
* The entries' canonical bytes are the leaves of an RFC 6962 Merkle tree (RFC 6962 §2.1); the
  log keeps the leaf hashes and a compact range, so roots and proofs need no re-reading.
* ``checkpoint`` appends a ``checkpoint`` entry signing (size, root, time) with the party's
  Ed25519 identity key; ``record_cosignature`` appends a witness's co-signature of one.
* Opening an existing file verifies it first and resumes ``seq`` and ``prev``; a file that does
  not verify (or has a torn last line) is refused: run :func:`fedseal.audit.repair_log`.
* An exclusive ``flock`` keeps a second writer out. If a write fails, the log refuses further
  appends (reopen it: verification will show what reached the disk).

No threads, no sockets, no wall clock except through the injected ``clock``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fedseal.audit import merkle
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.entry import Entry, format_time, utc_now
from fedseal.audit.events import (
    CHECKPOINT,
    CHECKPOINT_COSIGNED,
    EVENTS,
    OUTCOMES,
    RESERVED_EVENTS,
    SUCCESS,
    check_details,
)
from fedseal.audit.verify import verify_bytes
from fedseal.errors import AuditIntegrityError, ConfigError
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["AuditLog"]


class AuditLog:
    """Append-only, tamper-evident audit log of one party.

    Parameters
    ----------
    path
        The JSON Lines file; created (mode 0600) if missing.
    party
        Who writes it (``"server"``, a silo name). Must match an existing log's party.
    identity
        The party's Ed25519 identity key, needed for :meth:`checkpoint`; when given, an
        existing log's checkpoints must be signed by it.
    clock
        Returns the current time as an aware ``datetime`` (default: UTC now).

    Raises
    ------
    AuditIntegrityError
        If the existing file does not verify or ends in a torn line.
    ConfigError
        If it belongs to another party, or another process holds it open for writing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        party: str,
        identity: IdentityKey | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not isinstance(party, str) or not party:
            raise ConfigError("party must be a non-empty string")
        self.path, self.party = Path(path), party
        self._identity, self._clock = identity, clock
        self._batch_depth, self._dirty, self._failed = 0, False, False
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise ConfigError(f"{self.path} is open for writing by another process") from None
        try:
            self._resume(created)
        except BaseException:
            os.close(self._fd)
            raise

    def _resume(self, created: bool) -> None:
        if created:  # make the new directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        key = self._identity.public_key if self._identity else None
        report, self._state = verify_bytes(self.path.read_bytes(), key=key)
        if not report.ok:
            hint = "; run `fedseal audit repair`" if report.problem is None else ""
            raise AuditIntegrityError(f"{self.path}: {report.summary()}{hint}")
        if report.party is not None and report.party != self.party:
            raise ConfigError(f"{self.path} is the log of {report.party!r}, not {self.party!r}")

    # -- state ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of entries; also the ``seq`` the next entry gets."""
        return len(self._state.leaves)

    def root(self, size: int | None = None) -> bytes:
        """RFC 6962 root of the first ``size`` entries (default: all)."""
        if size is None or size == self.size:
            return self._state.tree.root()
        return merkle.root_hash(self._state.leaves[: self._check_size(size)])

    def checkpoints(self) -> list[Checkpoint]:
        """This log's checkpoints, oldest first."""
        return [self._state.checkpoints[k] for k in sorted(self._state.checkpoints)]

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of entry ``seq`` in the tree of the first ``size`` entries."""
        leaves = self._state.leaves[: self._check_size(self.size if size is None else size)]
        return merkle.inclusion_proof(leaves, seq)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 proof that the first ``old_size`` entries are a prefix of ``new_size``."""
        new = self._check_size(self.size if new_size is None else new_size)
        return merkle.consistency_proof(self._state.leaves[:new], old_size)

    def _check_size(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ConfigError(f"size must be in [0, {self.size}], got {size}")
        return size

    # -- writing ----------------------------------------------------------------------------

    def append(
        self,
        event: str,
        *,
        round: int | None = None,
        outcome: str = SUCCESS,
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Append one event; durable (fsynced) on return unless inside :meth:`batch`.

        Parameters
        ----------
        event
            One of the constants in :mod:`fedseal.audit.events` (not a reserved one).
        round
            The round number, or None for events outside a round.
        outcome
            ``"success"``, ``"failure"`` or ``"refused"``.
        details
            Counts, names, parameters and hex digests only (see
            :func:`fedseal.audit.events.check_details`).

        Raises
        ------
        ConfigError
            For an unknown or reserved event, a bad outcome, or refused details.

        Warnings
        --------
        Never put secrets, raw data or model values in ``details``: the guard catches only
        the obvious cases.
        """
        if event not in EVENTS or event in RESERVED_EVENTS:
            raise ConfigError(f"event must be a non-reserved fedseal.audit.events name: {event!r}")
        if outcome not in OUTCOMES:
            raise ConfigError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        clean = dict(details or {})
        check_details(clean)
        return self._record(event, round=round, outcome=outcome, details=clean)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group appends under one fsync, done when the outermost ``with`` block exits.

        Warnings
        --------
        Entries written inside the block are *not* durable until it exits, so only batch
        events whose effects are not acknowledged to anyone before the block ends (for
        example the per-silo ``keys_advertised`` entries of one stage, with the stage's reply
        sent after the block). A crash inside the block loses a suffix of it, never a middle
        entry. :meth:`checkpoint` always fsyncs, even inside a batch.
        """
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._sync()

    def checkpoint(self, *, round: int | None = None) -> Checkpoint:
        """Sign (size, root, time) of all entries so far and append it as an entry.

        Returns the :class:`Checkpoint` to send to witnesses. Always fsynced on return.

        Raises
        ------
        ConfigError
            If the log was opened without an ``identity`` key.
        """
        if self._identity is None:
            raise ConfigError("checkpoint() needs the party's identity key (identity=...)")
        time = format_time(self._clock())
        cp = Checkpoint.sign(
            self._identity, party=self.party, size=self.size, root=self.root(), time=time
        )
        record = cp.to_record()
        details = {k: record[k] for k in ("root", "signature", "signer", "size")}
        self._record(CHECKPOINT, round=round, outcome=SUCCESS, details=details, time=time)
        self._state.checkpoints[cp.size] = cp
        self._sync()
        return cp

    def record_cosignature(
        self, checkpoint: Checkpoint, witness: IdentityPublicKey, cosignature: bytes
    ) -> Entry:
        """Verify a witness's co-signature of one of this log's checkpoints and store it.

        Raises
        ------
        ConfigError
            If ``checkpoint`` is not one this log made.
        AuthenticationError
            If the co-signature does not verify (the witness misbehaved).
        """
        mine = self._state.checkpoints.get(checkpoint.size)
        if mine is None or mine.to_record() != checkpoint.to_record():
            raise ConfigError(f"not a checkpoint of this log: {checkpoint!r}")
        checkpoint.verify_cosignature(witness, cosignature)
        details = {
            "checkpoint_seq": checkpoint.size,
            "signature": bytes(cosignature).hex(),
            "witness": witness.to_bytes().hex(),
        }
        return self._record(CHECKPOINT_COSIGNED, round=None, outcome=SUCCESS, details=details)

    def _record(
        self,
        event: str,
        *,
        round: int | None,
        outcome: str,
        details: dict[str, Any],
        time: str | None = None,
    ) -> Entry:
        if self._fd < 0 or self._failed:
            raise ConfigError("this audit log is closed or failed; reopen it")
        entry = Entry.build(
            seq=self.size,
            time=time or format_time(self._clock()),
            party=self.party,
            event=event,
            round=round,
            outcome=outcome,
            details=details,
            prev=self._state.last_digest,
        )
        data = memoryview(entry.line + b"\n")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
            self._dirty = True
            if self._batch_depth == 0:
                self._sync()
        except OSError:
            self._failed = True
            raise
        leaf = merkle.leaf_hash(entry.line)
        self._state.leaves.append(leaf)
        self._state.tree.append(leaf)
        self._state.last_digest = entry.digest
        return entry

    def _sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError:
            self._failed = True
            raise
        self._dirty = False

    def close(self) -> None:
        """Fsync pending entries and release the file. Idempotent."""
        if self._fd >= 0:
            try:
                if self._dirty and not self._failed:
                    self._sync()
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, party={self.party!r}, size={self.size})"
