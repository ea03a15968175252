"""Threshold decryption: partial decryptions with proofs, and their combination.

Damgård–Jurik 2001 §4.1 (s = 1), after Shoup 2000. For an aggregate ciphertext ``c``:

* party ``i`` sends ``c_i = c^(2 Delta s_i) mod N^2`` and a proof (:mod:`.proofs`);
* anyone holding ``t`` valid partials for a set ``S`` computes, with the integer Lagrange
  coefficients ``lambda_i = Delta prod_{j in S, j != i} j / (j - i)``,
  ``c' = prod c_i^(2 lambda_i) = c^(4 Delta^2 d) = (1 + N)^(4 Delta^2 x)``, hence
  ``x = L(c') (4 Delta^2)^-1 mod N`` with ``L(u) = (u - 1) / N``.

We divide the ``lambda_i`` by their gcd ``g`` first (the exponents get shorter) and multiply ``x``
back by ``g``; that is sound because ``g`` only has prime factors ``<= l``, far below ``p', q'``.

With fewer than ``t`` shares the partials are simulatable from the public key and the plaintext
(Shoup 2000, Theorem 2, under the decisional composite residuosity assumption and in the random
oracle model for the proofs), so ``t - 1`` colluding silos plus the server learn nothing beyond
what the decrypted aggregate says.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import gmpy2

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.paillier._arith import element_bytes, parallel_map
from fedseal.secagg.paillier.ciphertext import EncryptedVector, check_elements
from fedseal.secagg.paillier.keys import KeyShare, ThresholdPublicKey
from fedseal.secagg.paillier.packing import PackingLayout
from fedseal.secagg.paillier.proofs import (
    DecryptionProof,
    ProofContext,
    prove_partial,
    verify_partial_proof,
)

__all__ = ["Decryption", "PartialDecryption", "combine", "partial_decrypt", "verify_partial"]


@dataclass(frozen=True, kw_only=True)
class PartialDecryption:
    """Party ``index``'s partial decryption of an aggregate, with its proof."""

    key_id: bytes
    round_id: int
    index: int
    values: tuple[int, ...]
    proof: DecryptionProof

    def digest(self, public_key: ThresholdPublicKey) -> bytes:
        """SHA-256 of the partial values (bound into the proof)."""
        h = hashlib.sha256(b"fedseal/v1/paillier/partials\x00")
        h.update(element_bytes(self.values, public_key.ciphertext_bytes))
        return h.digest()


@dataclass(frozen=True, kw_only=True)
class Decryption:
    """The result of :func:`combine`.

    Attributes
    ----------
    plaintexts : tuple of int
        The decrypted packed sums (give them to ``PackingLayout.unpack``).
    used : tuple of int
        The ``t`` party indices whose partials were combined.
    rejected : tuple of (int, str)
        Parties whose partials were excluded, with the reason (for the audit log).
    """

    plaintexts: tuple[int, ...]
    used: tuple[int, ...]
    rejected: tuple[tuple[int, str], ...]


def _context(
    key: ThresholdPublicKey, aggregate: EncryptedVector, index: int, partial_digest: bytes
) -> ProofContext:
    return ProofContext(
        key_id=key.key_id,
        round_id=aggregate.round_id,
        ciphertext_digest=aggregate.digest(key),
        index=index,
        partial_digest=partial_digest,
    )


def _check_aggregate(
    key: ThresholdPublicKey, aggregate: EncryptedVector, layout: PackingLayout, round_id: int
) -> None:
    check_elements(
        aggregate.ciphertexts,
        key,
        key_id=aggregate.key_id,
        round_id=aggregate.round_id,
        expected_round=round_id,
        expected_count=layout.count,
    )


def partial_decrypt(
    share: KeyShare,
    public_key: ThresholdPublicKey,
    aggregate: EncryptedVector,
    *,
    layout: PackingLayout,
    round_id: int,
    rng: RandomSource,
    executor: Executor | None = None,
) -> PartialDecryption:
    """Compute this silo's partial decryption of ``aggregate`` and prove it correct.

    Costs one ``|N^2|``-bit exponentiation modulo ``N^2`` per ciphertext (the dominant cost of a
    round); pass a thread pool as ``executor`` to spread them over cores.

    Warnings
    --------
    Decrypting is releasing. Call this at most once per round, and only on an aggregate that
    you recomputed yourself (``CiphertextSum``) from at least ``t`` contributions whose senders
    you authenticated: a malicious server could otherwise ask for the decryption of a single
    silo's vector, or of two different subsets and subtract.

    Raises
    ------
    ConfigError
        If ``share`` belongs to another key.
    ProtocolViolation
        If ``aggregate`` has the wrong key id, round, count, or elements outside ``Z*_{N^2}``.
    """
    if share.key_id != public_key.key_id or share.index > public_key.parties:
        raise ConfigError("key share does not belong to this public key")
    _check_aggregate(public_key, aggregate, layout, round_id)
    n2 = public_key.n_squared
    exponent = 2 * public_key.delta * share.exponent()

    def power(chunk: Sequence[int]) -> list[int]:
        return [int(gmpy2.powmod(c, exponent, n2)) for c in chunk]

    values = tuple(parallel_map(power, aggregate.ciphertexts, executor))
    unproven = PartialDecryption(
        key_id=public_key.key_id,
        round_id=round_id,
        index=share.index,
        values=values,
        proof=DecryptionProof(challenge=b"", response=0),
    )
    context = _context(public_key, aggregate, share.index, unproven.digest(public_key))
    proof = prove_partial(public_key, share, aggregate.ciphertexts, context, rng)
    return PartialDecryption(
        key_id=public_key.key_id, round_id=round_id, index=share.index, values=values, proof=proof
    )


def verify_partial(
    public_key: ThresholdPublicKey,
    aggregate: EncryptedVector,
    partial: PartialDecryption,
    *,
    layout: PackingLayout,
    round_id: int,
) -> None:
    """Check one partial decryption against ``aggregate``.

    Raises
    ------
    ProtocolViolation
        If it is malformed (key id, round, index, count, range).
    AuthenticationError
        If its proof does not verify (a subclass of ``ProtocolViolation``).
    """
    if not 1 <= partial.index <= public_key.parties:
        raise ProtocolViolation(f"partial decryption from unknown party {partial.index}")
    check_elements(
        partial.values,
        public_key,
        key_id=partial.key_id,
        round_id=partial.round_id,
        expected_round=round_id,
        expected_count=layout.count,
        what="partial decryption",
    )
    context = _context(public_key, aggregate, partial.index, partial.digest(public_key))
    if not verify_partial_proof(
        public_key, aggregate.ciphertexts, partial.values, context, partial.proof
    ):
        raise AuthenticationError("partial decryption proof did not verify")


def lagrange_at_zero(indices: Sequence[int], delta: int) -> list[int]:
    """Integer coefficients ``Delta * prod_{j != i} j / (j - i)`` for the parties ``indices``."""
    out = []
    for i in indices:
        num, den = delta, 1
        for j in indices:
            if j != i:
                num *= j
                den *= j - i
        if num % den:
            raise ConfigError("Delta does not clear the Lagrange denominators")
        out.append(num // den)
    return out


def combine(
    public_key: ThresholdPublicKey,
    aggregate: EncryptedVector,
    partials: Sequence[PartialDecryption],
    *,
    layout: PackingLayout,
    round_id: int,
    executor: Executor | None = None,
) -> Decryption:
    """Verify partial decryptions, exclude bad ones, and combine ``t`` valid ones.

    Partials are checked in the order given until ``t`` are valid; the rest are not needed.

    Warnings
    --------
    ``partial.index`` is what the sender claims: check it equals the authenticated sender's
    party index before calling.

    Raises
    ------
    ConfigError
        If two partials claim the same index, or ``aggregate`` is not a valid aggregate.
    RoundAbortedError
        If fewer than ``t`` valid partials are available (nothing is decrypted).
    """
    _check_aggregate(public_key, aggregate, layout, round_id)
    t = public_key.threshold
    indices = [p.index for p in partials]
    if len(set(indices)) != len(indices):
        raise ConfigError("two partial decryptions claim the same party index")
    if len(partials) < t:
        raise RoundAbortedError(
            f"{len(partials)} partial decryptions, threshold is {t}; nothing can be decrypted"
        )

    def check(partial: PartialDecryption) -> str | None:
        try:
            verify_partial(public_key, aggregate, partial, layout=layout, round_id=round_id)
        except ProtocolViolation as exc:
            return str(exc)
        return None

    valid: list[PartialDecryption] = []
    rejected: list[tuple[int, str]] = []
    pending = list(partials)
    while len(valid) < t and pending:
        batch, pending = pending[: t - len(valid)], pending[t - len(valid) :]
        reasons = list(executor.map(check, batch)) if executor else [check(p) for p in batch]
        for partial, reason in zip(batch, reasons, strict=True):
            if reason is None:
                valid.append(partial)
            else:
                rejected.append((partial.index, reason))
    if len(valid) < t:
        raise RoundAbortedError(
            f"only {len(valid)} valid partial decryptions, threshold is {t}; "
            f"rejected parties {[i for i, _ in rejected]}"
        )
    plaintexts = _combine_values(public_key, valid, executor)
    return Decryption(
        plaintexts=tuple(plaintexts),
        used=tuple(p.index for p in valid),
        rejected=tuple(rejected),
    )


def _combine_values(
    key: ThresholdPublicKey,
    valid: Sequence[PartialDecryption],
    executor: Executor | None,
) -> list[int]:
    n, n2 = key.n, key.n_squared
    lambdas = lagrange_at_zero([p.index for p in valid], key.delta)
    g = math.gcd(*lambdas)
    exps = [2 * lam // g for lam in lambdas]
    # x = L(c') * g / (4 Delta^2) mod N
    factor = gmpy2.mpz(g) * gmpy2.invert(4 * key.delta**2, n) % n
    columns = list(zip(*(p.values for p in valid), strict=True))

    def one(chunk: Sequence[tuple[int, ...]]) -> list[int]:
        out = []
        for column in chunk:
            pos: Any = gmpy2.mpz(1)
            neg: Any = gmpy2.mpz(1)
            for value, e in zip(column, exps, strict=True):
                if e > 0:
                    pos = pos * gmpy2.powmod(value, e, n2) % n2
                elif e < 0:
                    neg = neg * gmpy2.powmod(value, -e, n2) % n2
            u = pos * gmpy2.invert(neg, n2) % n2
            if u % n != 1:  # cannot happen with verified partials; never return garbage
                raise ProtocolViolation("combined value is not of the form 1 + xN")
            out.append(int((u - 1) // n * factor % n))
        return out

    return parallel_map(one, columns, executor)
