"""What a witness keeps: the checkpoints it co-signed, to hold a party to its history later.

A silo co-signs the server's round checkpoint and stores it here (JSON Lines, one canonical
checkpoint record per line, fsynced). ``fedseal audit verify SERVER_LOG --witness FILE`` then
checks that the server's log still contains, at ``seq == size``, a checkpoint entry equal to
every stored one: a truncated, rewritten or re-signed log contradicts at least one of them.
This is the "gossip" defence of RFC 6962 §5.4 / RFC 9162 §8.1.4 in its simplest form.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.canonical import loads as canonical_loads
from fedseal.audit.checkpoint import Checkpoint
from fedseal.audit.events import CHECKPOINT
from fedseal.audit.gossip import Witnessed
from fedseal.errors import AuditIntegrityError, ConfigError, ProtocolViolation

__all__ = ["WitnessStore", "load_checkpoints", "read_witnesses"]


def _checkpoint_from_entry(obj: dict[str, object]) -> Checkpoint:
    details = obj.get("details")
    if not isinstance(details, dict):
        raise AuditIntegrityError("checkpoint entry has no details object")
    record = dict(details)
    record["party"] = obj.get("party")
    record["time"] = obj.get("time")
    return Checkpoint.from_record(record)


def load_checkpoints(path: str | os.PathLike[str]) -> list[Checkpoint]:
    """Read checkpoints from a witness store *or* from an audit log (its checkpoint entries).

    Lines that are not checkpoints (for example a torn last line) are skipped; use
    :func:`read_witnesses` to be told about each. Signatures are not verified here.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    return [w.checkpoint for w in read_witnesses(path)[0]]


def read_witnesses(
    path: str | os.PathLike[str], source: str | None = None
) -> tuple[list[Witnessed], list[str]]:
    """Read a witness store or an audit log, with one warning per line ignored.

    Parameters
    ----------
    path
        The file.
    source
        How to name it in reports (default: the path).

    Returns
    -------
    tuple
        ``(checkpoints with their source, warnings)``. A file holding no checkpoint at all
        also gets a warning.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    name = source or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read witness file {path}: {exc.strerror}") from None
    out: list[Witnessed] = []
    warnings: list[str] = []
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, raw in enumerate(lines, 1):
        try:
            obj = canonical_loads(raw)
            if not isinstance(obj, dict):
                raise AuditIntegrityError("not a JSON object")
            if "event" not in obj:
                out.append(Witnessed(Checkpoint.from_record(obj), name))
            elif obj["event"] == CHECKPOINT:
                out.append(Witnessed(_checkpoint_from_entry(obj), name))
        except (ValueError, AuditIntegrityError, ConfigError) as exc:
            warnings.append(f"{name} line {number} ignored: not a checkpoint ({exc})")
    if not out:
        warnings.append(f"{name} holds no checkpoint")
    return out, warnings


class WitnessStore:
    """Append-only file of checkpoints this party co-signed.

    Parameters
    ----------
    path
        The store's file (created if missing), e.g. ``<state_dir>/witnessed-checkpoints.jsonl``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen: dict[tuple[str, int], Checkpoint] = {}
        if self.path.exists():
            for cp in load_checkpoints(self.path):
                self._seen[(cp.party, cp.size)] = cp

    def checkpoints(self) -> list[Checkpoint]:
        """All stored checkpoints, ordered by party and size."""
        return [self._seen[k] for k in sorted(self._seen)]

    def add(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` durably (call it after ``Checkpoint.cosign`` succeeded).

        Storing the same checkpoint twice is a no-op.

        Raises
        ------
        ProtocolViolation
            If a different checkpoint of the same party and size is already stored: the
            party has shown two histories (keep both files; they are the evidence).
        """
        key = (checkpoint.party, checkpoint.size)
        old = self._seen.get(key)
        if old is not None:
            if old.to_record() == checkpoint.to_record():
                return
            raise ProtocolViolation(
                f"{checkpoint.party} signed two different checkpoints of size {checkpoint.size}"
            )
        line = canonical_bytes(checkpoint.to_record()) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._seen[key] = checkpoint
