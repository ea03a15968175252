"""Non-interactive proofs that a partial decryption is correct (Shoup 2000, §2.1, batched).

Party ``i`` claims ``c_{i,j} = c_j^(2 Delta s_i)`` for every aggregate ciphertext ``c_j``. It
proves it without revealing ``s_i`` in two steps:

1. **Batching** (Bellare, Garay and Rabin, "Fast batch verification for modular exponentiation
   and digital signatures", EUROCRYPT 1998, small-exponents test). 128-bit exponents ``e_j`` are
   derived by SHAKE-256 from the key id, round id, the digest of the aggregate, the party index
   and the digest of the claimed partials, and ``C = prod c_j^e_j``, ``D = prod c_{i,j}^e_j``.
   If the claim holds, ``D = C^(2 Delta s_i)``. If some ``c_{i,j}^2`` is wrong, then
   ``D^2 = (C^4)^(Delta s_i)`` fails except with probability about 2^-128: squares of
   ``Z*_{N^2}`` have no element of small order when ``p, q`` are safe primes. Squaring absorbs
   the order-2 part that a cheater could add for free, exactly as in Shoup's scheme.
2. **Equality of discrete logs** (Chaum–Pedersen over a group of unknown order, Shoup 2000
   §2.1; Damgård–Jurik 2001 §4.1): ``log_{C^4}(D^2) = log_v(v_i)``, made non-interactive with
   Fiat–Shamir over SHA-256. The prover draws ``r`` of ``|Delta N^2| + 2*128 + 128`` bits, sends
   ``e = H(..., a, b)`` with ``a = (C^4)^r``, ``b = v^r``, and ``z = r + e Delta s_i`` over the
   integers (statistically hiding ``s_i``). The verifier recomputes ``a = (C^4)^z (D^2)^-e``,
   ``b = v^z v_i^-e`` and checks the hash. Every hash input is domain-separated and bound to the
   key id, round id and ciphertext digest, so a proof cannot be replayed across rounds or keys.

Soundness is in the random-oracle model; the verifier needs no secret, so the server checks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np
import numpy.typing as npt

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import signing_payload
from fedseal.secagg.paillier._arith import element_bytes, multi_exp, random_below
from fedseal.secagg.paillier.keys import KeyShare, ThresholdPublicKey

__all__ = ["DecryptionProof", "ProofContext", "prove_partial", "verify_partial_proof"]

_CHALLENGE_BYTES = 32
_BATCH_BYTES = 16
_STATISTICAL_BITS = 128


@dataclass(frozen=True, kw_only=True)
class ProofContext:
    """What a proof is bound to: the key, the round, the aggregate and the claimed partials."""

    key_id: bytes
    round_id: int
    ciphertext_digest: bytes
    index: int
    partial_digest: bytes

    def fields(self) -> tuple[bytes | int, ...]:
        return (self.key_id, self.round_id, self.ciphertext_digest, self.index, self.partial_digest)


@dataclass(frozen=True, kw_only=True)
class DecryptionProof:
    """A Fiat–Shamir proof ``(challenge, response)``; about ``|N^2|/8 + 90`` bytes."""

    challenge: bytes
    response: int

    def to_bytes(self) -> bytes:
        """``challenge || response`` (response big-endian, minimal length)."""
        return self.challenge + self.response.to_bytes((self.response.bit_length() + 7) // 8, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> DecryptionProof:
        """Inverse of :meth:`to_bytes`.

        Raises
        ------
        ProtocolViolation
            If ``data`` is too short.
        """
        if len(data) <= _CHALLENGE_BYTES:
            raise ProtocolViolation("decryption proof is truncated")
        return cls(
            challenge=bytes(data[:_CHALLENGE_BYTES]),
            response=int.from_bytes(data[_CHALLENGE_BYTES:], "big"),
        )


def _response_bits(key: ThresholdPublicKey) -> int:
    secret_bits = (key.delta * key.n_squared).bit_length()  # Delta s_i < Delta N m < Delta N^2
    return secret_bits + 8 * _CHALLENGE_BYTES + _STATISTICAL_BITS


def batch_digits(context: ProofContext, count: int) -> npt.NDArray[np.uint8]:
    """The batching exponents ``e_j`` (128-bit, big-endian rows) for ``count`` ciphertexts."""
    seed = signing_payload("paillier/batch", *context.fields())
    raw = hashlib.shake_256(seed).digest(_BATCH_BYTES * count)
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, _BATCH_BYTES)


def _challenge(
    key: ThresholdPublicKey, context: ProofContext, base: Any, image: Any, a: Any, b: Any
) -> bytes:
    v_i = key.verification_keys[context.index - 1]
    elements = (key.verification_base, v_i, base, image, a, b)
    payload = signing_payload(
        "paillier/dleq", *context.fields(), element_bytes(elements, key.ciphertext_bytes)
    )
    return hashlib.sha256(payload).digest()


def prove_partial(
    key: ThresholdPublicKey,
    share: KeyShare,
    ciphertexts: Sequence[int],
    context: ProofContext,
    rng: RandomSource,
) -> DecryptionProof:
    """Prove that the partials bound in ``context`` are ``c_j^(2 Delta s_i)`` for ``ciphertexts``.

    Costs one multi-exponentiation over the ciphertexts and three full exponentiations.
    """
    n2 = key.n_squared
    secret = key.delta * share.exponent()
    digits = batch_digits(context, len(ciphertexts))
    c = multi_exp([gmpy2.mpz(x) for x in ciphertexts], digits, n2)
    base = gmpy2.powmod(c, 4, n2)
    image = gmpy2.powmod(base, secret, n2)  # = D^2, since D = C^(2 Delta s_i)
    r = random_below(gmpy2.mpz(1) << _response_bits(key), rng)
    a = gmpy2.powmod(base, r, n2)
    b = gmpy2.powmod(key.verification_base, r, n2)
    e = _challenge(key, context, base, image, a, b)
    return DecryptionProof(challenge=e, response=int(r + int.from_bytes(e, "big") * secret))


def verify_partial_proof(
    key: ThresholdPublicKey,
    ciphertexts: Sequence[int],
    partials: Sequence[int],
    context: ProofContext,
    proof: DecryptionProof,
) -> bool:
    """Return whether ``proof`` shows ``partials[j] = ciphertexts[j]^(2 Delta s_i)`` for all j.

    The caller must already have checked that ``partials`` lie in ``Z*_{N^2}`` and that
    ``context.partial_digest`` is the digest of ``partials``.
    """
    if len(proof.challenge) != _CHALLENGE_BYTES or not 0 <= proof.response < (
        1 << (_response_bits(key) + 1)
    ):
        return False
    if not 1 <= context.index <= key.parties or len(ciphertexts) != len(partials):
        return False
    n2 = key.n_squared
    digits = batch_digits(context, len(ciphertexts))
    base = gmpy2.powmod(multi_exp([gmpy2.mpz(x) for x in ciphertexts], digits, n2), 4, n2)
    image = gmpy2.powmod(multi_exp([gmpy2.mpz(x) for x in partials], digits, n2), 2, n2)
    e = int.from_bytes(proof.challenge, "big")
    v_i = key.verification_keys[context.index - 1]
    try:
        a = gmpy2.powmod(base, proof.response, n2) * gmpy2.powmod(image, -e, n2) % n2
        b = gmpy2.powmod(key.verification_base, proof.response, n2)
        b = b * gmpy2.powmod(v_i, -e, n2) % n2
    except (ValueError, ZeroDivisionError):  # a non-invertible element: not a valid partial
        return False
    expected = _challenge(key, context, base, image, a, b)
    return hmac.compare_digest(expected, proof.challenge)
