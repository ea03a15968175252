"""Packed Paillier encryption with randomness precomputed between rounds.

Paillier encryption with ``g = N + 1`` is ``c = (1 + x N) r^N mod N^2`` for a fresh uniform
``r`` in ``Z*_N`` (Paillier 1999; the binomial shortcut ``(1+N)^x = 1 + xN mod N^2`` is from
Damgård–Jurik 2001). The only expensive part, ``r^N mod N^2`` (a ``|N|``-bit exponentiation
modulo ``N^2``), does not depend on the plaintext, so a silo makes a pool of them while it is
idle (:meth:`Encryptor.precompute`) and the online cost per ciphertext is one multiplication.
Each pool entry is used for exactly one ciphertext and then dropped: reusing ``r^N`` for two
ciphertexts would reveal the difference of their plaintexts. Semantic security rests on the
decisional composite residuosity assumption (Paillier 1999, §4).

:meth:`Encryptor.encrypt_and_prove` also proves knowledge of every plaintext
(:mod:`~fedseal.secagg.paillier.plaintext_proof`); the pool keeps each ``r`` beside ``r^N``
for that, and the proof's own ``s^N`` is precomputed with it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, NoReturn

import gmpy2
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.paillier._arith import parallel_map, random_unit
from fedseal.secagg.paillier.ciphertext import EncryptedVector
from fedseal.secagg.paillier.keys import ThresholdPublicKey
from fedseal.secagg.paillier.packing import PackingLayout
from fedseal.secagg.paillier.plaintext_proof import (
    PlaintextProof,
    ProofContext,
    commitment_randomness,
    prove,
)

__all__ = ["Encryptor"]


class Encryptor:
    """A silo's encryptor: packs, encrypts, and keeps a pool of precomputed ``r^N mod N^2``.

    Parameters
    ----------
    public_key : ThresholdPublicKey
        The deployment's key.
    rng : RandomSource
        Source of the ``r`` values (``SystemRandomSource`` in a deployment).

    Warnings
    --------
    The pool is as secret as the plaintexts: anyone holding ``r^N`` decrypts the ciphertext made
    with it. It lives only in this object's memory (no repr, no pickling); Python cannot wipe it.
    """

    __slots__ = ("_commitments", "_generated_online", "_key", "_pool", "_rng")

    def __init__(self, public_key: ThresholdPublicKey, rng: RandomSource) -> None:
        self._key = public_key
        self._rng = rng
        self._pool: list[tuple[Any, Any]] = []  # (r, r^N mod N^2)
        self._commitments: list[tuple[Any, Any]] = []  # (s, s^N mod N^2), one per proof
        self._generated_online = 0

    def _make(self, count: int, executor: Executor | None) -> list[tuple[Any, Any]]:
        n, n2 = self._key.n, self._key.n_squared
        rs = [random_unit(n, self._rng) for _ in range(count)]

        def power(chunk: Sequence[Any]) -> list[tuple[Any, Any]]:
            return [(r, gmpy2.powmod(r, n, n2)) for r in chunk]

        return parallel_map(power, rs, executor)

    def precompute(self, count: int, *, executor: Executor | None = None) -> None:
        """Add ``count`` fresh ``r^N mod N^2`` values to the pool (between rounds).

        A round needs ``layout.count`` of them. Pass a thread pool as ``executor`` to use
        several cores (gmpy2 releases the GIL here).
        """
        if count < 0:
            raise ConfigError(f"count must be >= 0, got {count}")
        self._pool.extend(self._make(count, executor))
        if not self._commitments:
            self._commitments.append(commitment_randomness(self._key, self._rng))

    @property
    def precomputed(self) -> int:
        """Number of unused pool entries."""
        return len(self._pool)

    @property
    def precomputed_bytes(self) -> int:
        """Memory held by the pool: about ``2 |N| / 8`` bytes plus object overhead per entry."""
        return sum(sys.getsizeof(r) + sys.getsizeof(rn) for r, rn in self._pool) + sys.getsizeof(
            self._pool
        )

    @property
    def generated_online(self) -> int:
        """How many ``r^N`` had to be made during :meth:`encrypt` because the pool ran dry."""
        return self._generated_online

    def encrypt(
        self, values: npt.NDArray[Any], layout: PackingLayout, *, round_id: int
    ) -> EncryptedVector:
        """Pack ``values`` (one encoded contribution) and encrypt every plaintext.

        Uses ``layout.count`` pool entries, each once; missing entries are made on the spot
        (slower, counted in :attr:`generated_online`), never reused.

        Raises
        ------
        ConfigError
            If ``values`` does not fit ``layout`` (see ``PackingLayout.pack``) or ``layout``
            was made for another key size.
        """
        vector, _, _ = self._encrypt(values, layout, round_id=round_id)
        return vector

    def encrypt_and_prove(
        self,
        values: npt.NDArray[Any],
        layout: PackingLayout,
        *,
        context: ProofContext,
        executor: Executor | None = None,
    ) -> tuple[EncryptedVector, PlaintextProof]:
        """:meth:`encrypt`, plus a proof of knowledge of every plaintext bound to ``context``.

        The randomness of both is used once and dropped.
        """
        vector, plaintexts, rs = self._encrypt(values, layout, round_id=context.round_id)
        pair = self._commitments.pop() if self._commitments else None
        proof = prove(
            self._key, vector.ciphertexts, plaintexts, rs, context=context, rng=self._rng,
            commitment_pair=pair,
        )  # fmt: skip
        return vector, proof

    def _encrypt(
        self, values: npt.NDArray[Any], layout: PackingLayout, *, round_id: int
    ) -> tuple[EncryptedVector, list[int], list[Any]]:
        if layout.plaintext_bits != self._key.key_bits - 1:
            raise ConfigError("layout was made for another key size")
        plaintexts = layout.pack(values)
        missing = len(plaintexts) - len(self._pool)
        if missing > 0:
            self._pool.extend(self._make(missing, None))
            self._generated_online += missing
        n, n2 = self._key.n, self._key.n_squared
        out, rs = [], []
        for x in plaintexts:
            # pop() removes the entry: a precomputed r^N is never used twice.
            r, r_n = self._pool.pop()
            out.append(int((1 + x * n) * r_n % n2))
            rs.append(r)
        vector = EncryptedVector(key_id=self._key.key_id, round_id=round_id, ciphertexts=tuple(out))
        return vector, [int(x) for x in plaintexts], rs

    def __repr__(self) -> str:
        return f"Encryptor(key_id={self._key.key_id.hex()[:16]}, precomputed={len(self._pool)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Encryptor holds secret randomness and must not be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("Encryptor holds secret randomness and must not be pickled")
