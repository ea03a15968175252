"""Proof that a silo knows the plaintexts of all its Paillier ciphertexts, bound to its round.

Theory of operation
-------------------
Paillier ciphertexts are malleable: from the ciphertexts the server forwards, a colluding silo
could compute ``Enc(-sum of the others)`` and sign it as its own input, so that the decrypted
"aggregate" is one target's input (issue 10). A silo therefore proves, with each input, that it
knows an opening ``(m_i, r_i)`` of every ciphertext ``c_i = (1+N)^{m_i} r_i^N mod N^2``. A value
derived from other silos' ciphertexts has no opening its sender knows.

The Σ-protocol is the proof of plaintext knowledge for Paillier of Cramer, Damgård and Nielsen
("Multiparty computation from threshold homomorphic encryption", EUROCRYPT 2001, §4.1; also
Damgård–Jurik–Nielsen, "A generalization of Paillier's public-key system", 2010, §5),
amortised over the ``L`` ciphertexts of one input with a vector challenge:

1. commitment ``a = (1+N)^x s^N mod N^2`` for uniform ``x`` in ``Z_N`` and ``s`` in ``Z*_N``;
2. challenge ``rho_1..rho_L`` (128 bits each) = SHAKE-256 of the statement and ``a``
   (Fiat–Shamir), the statement being (deployment, round, sender, key id, the ciphertexts);
3. response ``z = x + sum rho_i m_i mod N`` and ``w = s * prod r_i^{rho_i} mod N``;
4. the verifier accepts iff ``(1+N)^z w^N == a * prod c_i^{rho_i} (mod N^2)``.

Because ``1+N`` has order ``N`` in ``Z*_{N^2}``, everything works modulo ``N`` with no carries:
``z`` is uniform in ``Z_N`` and ``w`` uniform in ``Z*_N`` whatever the witness, so the proof is
perfect honest-verifier zero-knowledge. *Soundness*: answers to ``L + 1`` challenge vectors
for one ``a`` (obtained by rewinding the random oracle) give ``L`` independent linear
combinations of the ``m_i`` modulo ``N``; their 128-bit coefficient matrix is invertible modulo
``N`` except with negligible probability (``N``'s prime factors have ~1024 bits), which yields
every ``m_i``, and every ``r_i`` follows by Shamir's trick from ``r_i^Delta`` and ``r_i^N`` with
``gcd(Delta, N) = 1``. A cheating prover must guess the challenge vector: about ``2^-128``.
Binding the sender and the round into the challenge stops a proof from being replayed in
another round or claimed by another silo.

Verification costs one multi-exponentiation of the ``L`` ciphertexts with 128-bit exponents
(Pippenger, :func:`~fedseal.secagg.paillier._arith.multi_exp`), about ``16 (L + 511)``
multiplications modulo ``N^2``, i.e. a small multiple of encrypting the vector with
precomputed randomness. Proving costs one ``s^N`` (precomputed with the encryption randomness)
and a multi-exponentiation modulo ``N``.

No range proof per packed slot: a silo may encrypt any value modulo ``N``, but knowing its own
plaintext it only shifts the decrypted sum by a value it knows, which tells the server nothing
about the honest silos beyond their sum. An out-of-range value can corrupt the aggregate
(poisoning, out of scope); the decoded sum's integrity check bounds that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np
import numpy.typing as npt

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import signing_payload
from fedseal.secagg.paillier._arith import multi_exp, random_below, random_unit
from fedseal.secagg.paillier.keys import ThresholdPublicKey

__all__ = [
    "CHALLENGE_BYTES",
    "PlaintextProof",
    "ProofContext",
    "commitment_randomness",
    "prove",
    "verify",
]

#: Bytes of each challenge weight ``rho_i`` (128 bits).
CHALLENGE_BYTES = 16


@dataclass(frozen=True)
class ProofContext:
    """Who proves, for which round and key: hashed into the challenge."""

    deployment_id: str
    round_id: int
    sender: str

    def statement(self, public_key: ThresholdPublicKey, ciphertexts: Sequence[int]) -> bytes:
        """The statement's digest: context, key id and every ciphertext (fixed width)."""
        width = public_key.ciphertext_bytes
        h = hashlib.sha256()
        for c in ciphertexts:
            h.update(int(c).to_bytes(width, "big"))
        return hashlib.sha256(
            signing_payload(
                "paillier-plaintext-proof",
                self.deployment_id,
                self.round_id,
                self.sender,
                public_key.key_id,
                len(ciphertexts),
                h.digest(),
            )
        ).digest()


@dataclass(frozen=True)
class PlaintextProof:
    """A proof of knowledge of the plaintexts of one silo's ciphertexts (see module docstring).

    ``commitment`` is in ``Z*_{N^2}``, ``z`` in ``Z_N``, ``w`` in ``Z*_N``.
    """

    commitment: int
    z: int
    w: int

    def to_bytes(self, public_key: ThresholdPublicKey) -> bytes:
        """``commitment`` (|N^2| bytes) || ``z`` || ``w`` (|N| bytes each), big-endian."""
        wide, narrow = public_key.ciphertext_bytes, _n_bytes(public_key)
        return (
            int(self.commitment).to_bytes(wide, "big")
            + int(self.z).to_bytes(narrow, "big")
            + int(self.w).to_bytes(narrow, "big")
        )

    @classmethod
    def from_bytes(cls, data: bytes, public_key: ThresholdPublicKey) -> PlaintextProof:
        """Inverse of :meth:`to_bytes`; ranges are checked by :func:`verify`.

        Raises
        ------
        ProtocolViolation
            If ``data`` has the wrong length.
        """
        wide, narrow = public_key.ciphertext_bytes, _n_bytes(public_key)
        if len(data) != wide + 2 * narrow:
            raise ProtocolViolation(f"a plaintext proof is {wide + 2 * narrow} bytes")
        return cls(
            commitment=int.from_bytes(data[:wide], "big"),
            z=int.from_bytes(data[wide : wide + narrow], "big"),
            w=int.from_bytes(data[wide + narrow :], "big"),
        )


def _n_bytes(public_key: ThresholdPublicKey) -> int:
    return (int(public_key.n).bit_length() + 7) // 8


def _challenge(statement: bytes, commitment: int, count: int, width: int) -> npt.NDArray[np.uint8]:
    """``count`` weights of 128 bits from SHAKE-256(statement || commitment), as byte rows."""
    seed = signing_payload(
        "paillier-proof-challenge", statement, int(commitment).to_bytes(width, "big")
    )
    stream = hashlib.shake_256(seed).digest(count * CHALLENGE_BYTES)
    return np.frombuffer(stream, dtype=np.uint8).reshape(count, CHALLENGE_BYTES)


def commitment_randomness(public_key: ThresholdPublicKey, rng: RandomSource) -> tuple[Any, Any]:
    """A fresh ``(s, s^N mod N^2)`` for one proof (precompute it with the encryption pool)."""
    s = random_unit(public_key.n, rng)
    return s, gmpy2.powmod(s, public_key.n, public_key.n_squared)


def prove(
    public_key: ThresholdPublicKey,
    ciphertexts: Sequence[int],
    plaintexts: Sequence[int],
    randomness: Sequence[Any],
    *,
    context: ProofContext,
    rng: RandomSource,
    commitment_pair: tuple[Any, Any] | None = None,
) -> PlaintextProof:
    """Prove knowledge of ``(plaintexts[i], randomness[i])`` opening each ``ciphertexts[i]``.

    ``randomness[i]`` is the ``r`` (not ``r^N``) the ciphertext was made with;
    ``commitment_pair`` is a precomputed ``(s, s^N)`` from :func:`commitment_randomness`.

    Warnings
    --------
    ``randomness`` and ``commitment_pair`` are secret and single-use: reusing ``s`` for two
    proofs reveals ``sum rho_i m_i`` differences, and ``r`` opens its ciphertext.
    """
    n, n2 = public_key.n, public_key.n_squared
    if not len(ciphertexts) == len(plaintexts) == len(randomness):
        raise ValueError("one plaintext and one r per ciphertext are required")
    s, s_n = commitment_pair or commitment_randomness(public_key, rng)
    x = random_below(n, rng)
    commitment = int((1 + x * n) * s_n % n2)
    rho = _challenge(
        context.statement(public_key, ciphertexts), commitment, len(ciphertexts),
        public_key.ciphertext_bytes,
    )  # fmt: skip
    weights = [int.from_bytes(row.tobytes(), "big") for row in rho]
    z = (x + sum(w * int(m) for w, m in zip(weights, plaintexts, strict=True))) % n
    w = int(s * multi_exp([gmpy2.mpz(r) for r in randomness], rho, n) % n)
    return PlaintextProof(commitment=commitment, z=int(z), w=w)


def verify(
    public_key: ThresholdPublicKey,
    ciphertexts: Sequence[int],
    proof: PlaintextProof,
    *,
    context: ProofContext,
) -> bool:
    """True iff ``proof`` shows knowledge of every plaintext of ``ciphertexts`` in ``context``.

    Accepting an input also needs its ciphertexts to lie in ``Z*_{N^2}``
    (:func:`~fedseal.secagg.paillier.check_elements`), checked before or after this.
    """
    n, n2 = public_key.n, public_key.n_squared
    a, z, w = proof.commitment, proof.z, proof.w
    if not (0 < a < n2 and 0 <= z < n and 0 < w < n) or not ciphertexts:
        return False
    if gmpy2.gcd(a, n) != 1 or gmpy2.gcd(w, n) != 1:
        return False
    rho = _challenge(
        context.statement(public_key, ciphertexts), a, len(ciphertexts), public_key.ciphertext_bytes
    )
    lhs = (1 + z * n) * gmpy2.powmod(w, n, n2) % n2
    rhs = a * multi_exp([gmpy2.mpz(c) for c in ciphertexts], rho, n2) % n2
    return bool(lhs == rhs)
