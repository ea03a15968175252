"""Encrypted vectors, their validation, and the server's homomorphic running sum.

With ``g = N + 1`` (Paillier 1999, scheme 1; Damgård–Jurik 2001), multiplying ciphertexts
modulo ``N^2`` adds plaintexts modulo ``N``. The server multiplies the silos' packed vectors
component-wise into a running product (O(count) memory, whatever the number of silos); dropouts
cost nothing, the sum is over whoever sent.

Everything a peer sends is validated before it touches the running sum (STYLE rule 5): key id,
round id, number of ciphertexts, and each ciphertext in ``Z*_{N^2}`` (``0 < c < N^2`` and
``gcd(c, N) = 1``; a non-unit would reveal a factor of ``N``, and the sender would know it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.paillier._arith import element_bytes
from fedseal.secagg.paillier.keys import ThresholdPublicKey
from fedseal.secagg.paillier.packing import PackingLayout

__all__ = ["CiphertextSum", "EncryptedVector", "check_elements"]


@dataclass(frozen=True, kw_only=True)
class EncryptedVector:
    """Packed ciphertexts of one contribution (or of the sum), tagged with key and round.

    Attributes
    ----------
    key_id : bytes
        ``ThresholdPublicKey.key_id`` of the key used.
    round_id : int
        The round this vector belongs to.
    ciphertexts : tuple of int
        Elements of ``Z*_{N^2}``, one per packed plaintext.
    """

    key_id: bytes
    round_id: int
    ciphertexts: tuple[int, ...]

    def to_bytes(self, public_key: ThresholdPublicKey) -> bytes:
        """Fixed-width big-endian concatenation (``public_key.ciphertext_bytes`` each)."""
        return element_bytes(self.ciphertexts, public_key.ciphertext_bytes)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, public_key: ThresholdPublicKey, key_id: bytes, round_id: int
    ) -> EncryptedVector:
        """Inverse of :meth:`to_bytes`. Validate the result with :func:`check_elements`.

        Raises
        ------
        ProtocolViolation
            If ``data`` is not a whole number of ciphertexts.
        """
        width = public_key.ciphertext_bytes
        if len(data) % width:
            raise ProtocolViolation(f"ciphertext bytes: {len(data)} is not a multiple of {width}")
        return cls(
            key_id=bytes(key_id),
            round_id=round_id,
            ciphertexts=tuple(
                int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)
            ),
        )

    def digest(self, public_key: ThresholdPublicKey) -> bytes:
        """SHA-256 of the key id, round id and ciphertexts (what proofs bind to)."""
        h = hashlib.sha256(b"fedseal/v1/paillier/ciphertexts\x00")
        h.update(self.key_id + self.round_id.to_bytes(8, "big"))
        h.update(len(self.ciphertexts).to_bytes(8, "big"))
        h.update(self.to_bytes(public_key))
        return h.digest()


def check_elements(
    values: Sequence[int],
    public_key: ThresholdPublicKey,
    *,
    key_id: bytes,
    round_id: int,
    expected_round: int,
    expected_count: int,
    what: str = "ciphertext",
) -> None:
    """Check that peer data is for this key, round and layout, and lies in ``Z*_{N^2}``.

    Raises
    ------
    ProtocolViolation
        Naming the first failed check (wrong key id, round, count; element out of range or
        not a unit).
    """
    if key_id != public_key.key_id:
        raise ProtocolViolation(f"{what}s are for another key (key id mismatch)")
    if round_id != expected_round:
        raise ProtocolViolation(f"{what}s are for round {round_id}, expected {expected_round}")
    if len(values) != expected_count:
        raise ProtocolViolation(f"expected {expected_count} {what}s, got {len(values)}")
    n, n2 = public_key.n, public_key.n_squared
    for j, c in enumerate(values):
        if not isinstance(c, int) or not 0 < c < n2:
            raise ProtocolViolation(f"{what} {j} is out of range (must be in 1..N^2-1)")
        if gmpy2.gcd(c, n) != 1:
            raise ProtocolViolation(f"{what} {j} is not a unit of Z*_(N^2)")


class CiphertextSum:
    """The server's running homomorphic sum of the contributions of one round.

    Parameters
    ----------
    public_key : ThresholdPublicKey
        The deployment's key (the server never has anything else).
    layout : PackingLayout
        Fixes the number of ciphertexts and the largest number of contributions.
    round_id : int
        Contributions for another round are refused.

    Warnings
    --------
    ``add`` does not know *who* sent a vector: check the sender's identity and that it sends
    once per round before calling it (the protocol session does).
    """

    def __init__(
        self, public_key: ThresholdPublicKey, layout: PackingLayout, *, round_id: int
    ) -> None:
        if layout.plaintext_bits != public_key.key_bits - 1:
            raise ConfigError("layout was made for another key size")
        self._key = public_key
        self._layout = layout
        self._round = round_id
        self._acc = [gmpy2.mpz(1)] * layout.count
        self._contributions = 0

    @property
    def contributions(self) -> int:
        """How many vectors have been added."""
        return self._contributions

    def add(self, vector: EncryptedVector) -> None:
        """Validate ``vector`` and multiply it into the sum; on error the sum is unchanged.

        Raises
        ------
        ProtocolViolation
            If the vector fails :func:`check_elements`, or one more contribution would exceed
            ``layout.max_summands`` (the slots could overflow).
        """
        check_elements(
            vector.ciphertexts,
            self._key,
            key_id=vector.key_id,
            round_id=vector.round_id,
            expected_round=self._round,
            expected_count=self._layout.count,
        )
        if self._contributions >= self._layout.max_summands:
            raise ProtocolViolation(
                f"more than max_summands={self._layout.max_summands} contributions"
            )
        n2 = self._key.n_squared
        self._acc = [a * c % n2 for a, c in zip(self._acc, vector.ciphertexts, strict=True)]
        self._contributions += 1

    def result(self) -> EncryptedVector:
        """The encrypted sum of everything added so far.

        Raises
        ------
        ConfigError
            If nothing was added.
        """
        if not self._contributions:
            raise ConfigError("no contribution was added")
        return EncryptedVector(
            key_id=self._key.key_id,
            round_id=self._round,
            ciphertexts=tuple(int(a) for a in self._acc),
        )
