"""RFC 6962 Merkle tree: known answers (tests/vectors/audit), all proofs for sizes 1..8,
an independent recursive verifier, hypothesis properties up to 64 leaves, corrupted proofs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from fedseal.errors import AuditIntegrityError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "audit" / "ct_merkle.json").read_text()
)
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]


# -- an independent verifier, straight from the recursive definitions in RFC 6962 §2.1 -------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def independent_inclusion_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """Rebuild the root by recursing like PATH(m, D[n]); the last proof item is the top."""
    if size == 1:
        assert not proof and index == 0
        return leaf
    k = _split(size)
    *rest, top = proof
    if index < k:
        return node_hash(independent_inclusion_root(leaf, index, k, rest), top)
    return node_hash(top, independent_inclusion_root(leaf, index - k, size - k, rest))


def independent_consistency_roots(
    m: int, n: int, proof: list[bytes], old_root: bytes, whole: bool = True
) -> tuple[bytes, bytes]:
    """Rebuild (old root, new root) by recursing like SUBPROOF(m, D[n], b)."""
    if m == n:
        if whole:
            assert not proof
            return old_root, old_root
        *rest, h = proof
        assert not rest
        return h, h
    k = _split(n)
    *rest, top = proof
    if m <= k:
        old, new = independent_consistency_roots(m, k, rest, old_root, whole)
        return old, node_hash(new, top)
    old, new = independent_consistency_roots(m - k, n - k, rest, old_root, False)
    return node_hash(top, old), node_hash(top, new)


# -- known answers -------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert root_hash([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root_hash(LEAVES[:size]) == ROOTS[size - 1]
    tree = CompactRange()
    for leaf in LEAVES[:size]:
        tree.append(leaf)
    assert tree.root() == ROOTS[size - 1]


def test_root_of_eight_reference_leaves() -> None:
    assert root_hash(LEAVES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize(
    "vec", VECTORS["inclusion"], ids=lambda v: f"{v['leaf_1based']}of{v['size']}"
)
def test_published_inclusion_paths(vec: dict[str, object]) -> None:
    index, size = int(vec["leaf_1based"]) - 1, int(vec["size"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in vec["path"]]  # type: ignore[attr-defined]
    assert inclusion_proof(LEAVES[:size], index) == expected
    verify_inclusion(LEAVES[index], index, size, expected, ROOTS[size - 1])


@pytest.mark.parametrize("vec", VECTORS["consistency"], ids=lambda v: f"{v['size1']}to{v['size2']}")
def test_published_consistency_proofs(vec: dict[str, object]) -> None:
    m, n = int(vec["size1"]), int(vec["size2"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in vec["proof"]]  # type: ignore[attr-defined]
    assert consistency_proof(LEAVES[:n], m) == expected
    verify_consistency(m, n, ROOTS[m - 1], ROOTS[n - 1], expected)


@pytest.mark.parametrize("size", range(1, 9))
def test_every_inclusion_proof_up_to_8(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(LEAVES[:size], index)
        verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size - 1])
        assert independent_inclusion_root(LEAVES[index], index, size, proof) == ROOTS[size - 1]


@pytest.mark.parametrize("n", range(1, 9))
def test_every_consistency_proof_up_to_8(n: int) -> None:
    for m in range(1, n + 1):
        proof = consistency_proof(LEAVES[:n], m)
        verify_consistency(m, n, ROOTS[m - 1], ROOTS[n - 1], proof)
        got = independent_consistency_roots(m, n, list(proof), ROOTS[m - 1])
        assert got == (ROOTS[m - 1], ROOTS[n - 1])


# -- corrupted proofs fail (the probes of the CT verifier tests, re-stated) ----------------


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 8]) + h[1:]


@pytest.mark.parametrize("size", range(1, 9))
def test_corrupted_inclusion_proofs_fail(size: int) -> None:
    root = ROOTS[size - 1]
    for index in range(size):
        proof, leaf = inclusion_proof(LEAVES[:size], index), LEAVES[index]
        bad = [
            (index + 1, size, proof, root, leaf),
            (index, size * 2, proof, root, leaf),
            (index, size, proof, EMPTY_ROOT, leaf),
            (index, size, proof, root, leaf_hash(b"WrongLeaf")),
            (index, size, [*proof, root], root, leaf),
            (index, size, [root, *proof], root, leaf),
            *(
                (index, size, [*proof[:i], _flip(p), *proof[i + 1 :]], root, leaf)
                for i, p in enumerate(proof)
            ),
        ]
        if proof:
            bad.append((index, size, proof[:-1], root, leaf))
        for i, s, p, r, lf in bad:
            with pytest.raises(AuditIntegrityError):
                verify_inclusion(lf, i, s, p, r)


@pytest.mark.parametrize("n", range(2, 9))
def test_corrupted_consistency_proofs_fail(n: int) -> None:
    for m in range(1, n):
        proof, r1, r2 = consistency_proof(LEAVES[:n], m), ROOTS[m - 1], ROOTS[n - 1]
        bad = [
            (m, n, r2, r1, proof),
            (m, n, r1, EMPTY_ROOT, proof),
            (m, n, r1, r2, []),
            (m, n, r1, r2, [*proof, r2]),
            (m, n, r1, r2, [r1, *proof]),
            (m, n, r1, r2, proof[:-1]),
            *((m, n, r1, r2, [*proof[:i], _flip(p), *proof[i + 1 :]]) for i, p in enumerate(proof)),
        ]
        if m > 1:
            bad.append((m - 1, n, r1, r2, proof))
        for a, b, x, y, p in bad:
            with pytest.raises(AuditIntegrityError):
                verify_consistency(a, b, x, y, p)


def test_trivial_consistency_cases() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    for args in [
        (3, 3, ROOTS[2], ROOTS[3], []),
        (2, 1, ROOTS[1], ROOTS[0], []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]:
        with pytest.raises(AuditIntegrityError):
            verify_consistency(*args)  # type: ignore[arg-type]


def test_bad_arguments_to_proof_builders() -> None:
    with pytest.raises(ValueError, match="index"):
        inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ValueError, match="old_size"):
        consistency_proof(LEAVES[:3], 4)
    with pytest.raises(AuditIntegrityError):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)


# -- properties up to 64 leaves ------------------------------------------------------------

_leaves64 = [leaf_hash(bytes([i, i * 7 % 256])) for i in range(64)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_property(case: tuple[int, int]) -> None:
    size, index = case
    root = root_hash(_leaves64[:size])
    proof = inclusion_proof(_leaves64[:size], index)
    verify_inclusion(_leaves64[index], index, size, proof, root)
    assert independent_inclusion_root(_leaves64[index], index, size, proof) == root


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_property(case: tuple[int, int]) -> None:
    m, n = case
    r1, r2 = root_hash(_leaves64[:m]), root_hash(_leaves64[:n])
    proof = consistency_proof(_leaves64[:n], m)
    verify_consistency(m, n, r1, r2, proof)
    assert independent_consistency_roots(m, n, list(proof), r1) == (r1, r2)


def test_compact_range_matches_root_hash_for_every_size() -> None:
    tree = CompactRange()
    for n, leaf in enumerate(_leaves64, start=1):
        tree.append(leaf)
        assert tree.size == n and tree.root() == root_hash(_leaves64[:n])
