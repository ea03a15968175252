"""RFC 6962 Merkle tree over audit entries: tree hash, inclusion and consistency proofs.

* Hashing (RFC 6962 §2.1, RFC 9162 §2.1.1): ``MTH({}) = SHA-256()``,
  leaf ``= SHA-256(0x00 || d)``, interior node ``= SHA-256(0x01 || left || right)``; a tree of
  ``n > 1`` leaves splits at ``k``, the largest power of two smaller than ``n``.
* Proof *generation* follows the recursive definitions ``PATH`` (RFC 6962 §2.1.1) and
  ``SUBPROOF`` (§2.1.2).
* Proof *verification* follows the iterative algorithms of RFC 9162 §2.1.3.2 (inclusion) and
  §2.1.4.2 (consistency), which need only the proof, never the tree.

Functions that build proofs take the list of *leaf hashes* (not the entries), so a log keeps 32
bytes per entry in memory. :class:`CompactRange` gives the root of a growing tree in
``O(log n)`` per append, which is how the log and the verifier track the root without ever
re-hashing the whole tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from fedseal.errors import AuditIntegrityError

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: Root of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of a list of *leaf hashes* (RFC 6962 §2.1 ``MTH``)."""
    return _mth(leaves, 0, len(leaves))


def _check_size(name: str, value: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise ValueError(f"{name} must be an int in [0, {upper}], got {value!r}")


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 §2.1.1 ``PATH``).

    Parameters
    ----------
    leaves
        Leaf hashes of the tree (pass ``leaves[:size]`` for an older tree).
    index
        0-based leaf index, ``0 <= index < len(leaves)``.
    """
    _check_size("index", index, len(leaves) - 1)
    proof: list[bytes] = []
    lo, hi = 0, len(leaves)
    # Walk down from the root, collecting siblings; the RFC lists them leaf-first.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(leaves, lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 §2.1.2).

    Returns the empty list when ``old_size`` is 0 or equals ``len(leaves)``.
    """
    _check_size("old_size", old_size, len(leaves))
    if old_size in (0, len(leaves)):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, len(leaves), old_size, True  # SUBPROOF(m, D[lo:hi], whole)
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_mth(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_mth(leaves, lo, hi))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2).

    Parameters
    ----------
    leaf
        The leaf *hash* (``leaf_hash(entry_bytes)``).
    index, size
        0-based leaf index and the tree size the proof is for.
    proof
        The audit path, leaf-first.
    root
        The expected root of the tree of ``size`` leaves.

    Raises
    ------
    AuditIntegrityError
        If the proof does not lead from ``leaf`` to ``root``.
    """
    if index >= size or index < 0:
        raise AuditIntegrityError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise AuditIntegrityError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise AuditIntegrityError("inclusion proof does not match the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(old_size, old_root)`` is a prefix of ``(new_size, new_root)``.

    RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots; ``old_size == 0``
    needs an empty proof and ``old_root == EMPTY_ROOT``.

    Raises
    ------
    AuditIntegrityError
        If the proof does not show that the old tree is a prefix of the new one.
    """
    if not 0 <= old_size <= new_size:
        raise AuditIntegrityError(f"sizes go backwards: {old_size} -> {new_size}")
    if old_size == new_size or old_size == 0:
        if proof or old_root != (new_root if old_size else EMPTY_ROOT):
            raise AuditIntegrityError("trivial consistency proof does not hold")
        return
    path = list(proof)
    if not path:
        raise AuditIntegrityError("consistency proof is empty")
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is a node of the tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise AuditIntegrityError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise AuditIntegrityError("consistency proof does not match the roots")


class CompactRange:
    """Root of an append-only tree in ``O(log n)`` memory and time per append.

    Keeps the roots of the perfect subtrees the leaves so far decompose into (one per set bit
    of the size, largest first); the RFC 6962 root folds them right to left.
    """

    __slots__ = ("_peaks", "size")

    def __init__(self) -> None:
        self._peaks: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash*."""
        h, n = leaf, self.size
        while n & 1:  # merge equal-sized perfect subtrees, like a binary carry
            h = node_hash(self._peaks.pop(), h)
            n >>= 1
        self._peaks.append(h)
        self.size += 1

    def root(self) -> bytes:
        """The RFC 6962 root of all leaves appended so far."""
        if not self._peaks:
            return EMPTY_ROOT
        r = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            r = node_hash(peak, r)
        return r
