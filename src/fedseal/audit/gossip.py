"""Witnessed checkpoints: which to trust, and how they contradict a log (``audit-format.md`` §11).

A witness store (or another log) holds checkpoints that a silo verified and co-signed. The
verifier keeps those of the log's party whose signature verifies under the pinned key, and warns
about **every** one it ignores: another party's, unparsable, or signed by another key. Kept
checkpoints are then compared with the log; two different roots for one size, between the log
and a witness or between two witnesses, is *equivocation* and names both sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fedseal.audit.checkpoint import Checkpoint
from fedseal.errors import AuthenticationError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["Witnessed", "compare", "select"]


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint a witness holds, and where it was read (a file name, ``silo b``, …)."""

    checkpoint: Checkpoint
    source: str = "a witness"


def _root(root: bytes) -> str:
    return root.hex()[:16] + "…"


def select(
    witnesses: Sequence[Checkpoint | Witnessed], party: str | None, key: IdentityPublicKey | None
) -> tuple[list[Witnessed], IdentityPublicKey | None, list[str]]:
    """Keep the witnessed checkpoints of ``party`` that verify under ``key``.

    Parameters
    ----------
    witnesses
        Checkpoints, bare or with their source.
    party
        The log's party (``None`` if the log has no readable first line: keep any party).
    key
        The pinned key, if any.

    Returns
    -------
    tuple
        ``(kept sorted by size, the key they imply or None, one warning per ignored one)``.
    """
    good: list[Witnessed] = []
    warnings: list[str] = []
    for item in witnesses:
        w = item if isinstance(item, Witnessed) else Witnessed(item)
        cp = w.checkpoint
        what = f"ignored witnessed checkpoint of size {cp.size} from {w.source}"
        if party is not None and cp.party != party:
            warnings.append(f"{what}: it is {cp.party!r}'s, not {party!r}'s")
            continue
        try:
            cp.verify()
        except AuthenticationError:
            warnings.append(f"{what}: bad signature")
            continue
        if key is not None and cp.signer != key:
            fp = cp.signer.fingerprint()
            warnings.append(f"{what}: signed by another key ({fp}), not the pinned one")
            continue
        good.append(w)
    signers = {w.checkpoint.signer for w in good}
    implied = key or (next(iter(signers)) if len(signers) == 1 else None)
    if key is None and len(signers) > 1:
        warnings.append("witnessed checkpoints carry several signer keys; pass --key")
    return sorted(good, key=lambda w: w.checkpoint.size), implied, warnings


def compare(
    kept: Sequence[Witnessed], mine: Mapping[int, Checkpoint], limit: int
) -> tuple[int, tuple[int, str] | None]:
    """The first contradiction between the log's checkpoints and the kept witnessed ones.

    Parameters
    ----------
    kept
        Output of :func:`select`, sorted by size.
    mine
        The log's valid checkpoints by ``seq`` (= size).
    limit
        Number of leading entries that verified.

    Returns
    -------
    tuple
        ``(number matched, (seq to blame, reason) or None)``.
    """
    seen: dict[int, Witnessed] = {}
    for w in kept:  # two witnesses holding two roots for one size: the party equivocated
        other = seen.setdefault(w.checkpoint.size, w)
        if other.checkpoint.root != w.checkpoint.root:
            size = w.checkpoint.size
            return 0, (
                min(size, limit),
                f"equivocation: two roots for size {size}: {_root(other.checkpoint.root)} "
                f"in {other.source}, {_root(w.checkpoint.root)} in {w.source}",
            )
    for count, w in enumerate(kept):
        cp = w.checkpoint
        if cp.size >= limit:
            return count, (
                limit,
                f"log ends before seq {cp.size}, which {w.source} saw as a checkpoint "
                f"({cp.time}): truncated",
            )
        log_cp = mine.get(cp.size)
        if log_cp is None:
            return count, (cp.size, f"differs from the checkpoint {w.source} co-signed: rewritten")
        if log_cp.root != cp.root:
            return count, (
                cp.size,
                f"differs from the checkpoint {w.source} co-signed: rewritten (equivocation: "
                f"root {_root(log_cp.root)} in the log, {_root(cp.root)} in {w.source})",
            )
        if log_cp.signature != cp.signature or log_cp.signer != cp.signer:
            return count, (
                cp.size,
                f"checkpoint re-signed: {w.source} co-signed a different signature",
            )
    return len(kept), None
