"""Threshold Paillier public key and key shares (Damgård–Jurik 2001 with s = 1).

The scheme is Shoup's threshold RSA ("Practical threshold signatures", EUROCRYPT 2000) moved to
Paillier's cryptosystem (EUROCRYPT 1999) as in Damgård and Jurik, "A generalisation, a
simplification and some applications of Paillier's probabilistic public-key system" (PKC 2001,
§4) and Fouque, Poupard and Stern, "Sharing decryption in the context of voting or lotteries"
(FC 2000):

* ``N = p q`` with safe primes ``p = 2p' + 1``, ``q = 2q' + 1``; ``m = p' q'``; ``g = N + 1``.
* The secret exponent ``d`` satisfies ``d = 0 mod m`` and ``d = 1 mod N``. It is shared with a
  random polynomial ``f`` of degree ``t - 1`` over ``Z_{N m}``, ``f(0) = d``; party ``i``
  (``1 <= i <= l``) holds ``s_i = f(i)``.
* Public verification keys: a random square ``v`` of ``Z*_{N^2}`` and ``v_i = v^(Delta s_i)``
  with ``Delta = l!``; they let anyone check a partial decryption (see ``proofs``).

This module holds the public parts (:class:`ThresholdPublicKey`) and one party's share
(:class:`KeyShare`, a :class:`~fedseal.secagg.secret.Secret`); ``dealer`` makes them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gmpy2
from phe import paillier

from fedseal.errors import ConfigError
from fedseal.secagg.secret import Secret

__all__ = ["MIN_SECURE_KEY_BITS", "KeyShare", "ThresholdPublicKey"]

#: Smallest modulus the dealer accepts without ``allow_insecure=True`` (NIST SP 800-57: 112 bits).
MIN_SECURE_KEY_BITS = 2048
_KEY_ID_DOMAIN = b"fedseal/v1/paillier/key-id\x00"


@dataclass(frozen=True, kw_only=True)
class ThresholdPublicKey:
    """Everything public about a threshold Paillier key: what the server and every silo hold.

    Parameters
    ----------
    n : int
        The RSA modulus ``N = p q`` (safe primes); plaintexts live in ``Z_N``.
    threshold : int
        ``t``: any ``t`` valid partial decryptions decrypt; ``t - 1`` reveal nothing.
    verification_base : int
        ``v``, a random square of ``Z*_{N^2}``.
    verification_keys : tuple of int
        ``v_i = v^(Delta s_i) mod N^2`` for parties ``i = 1..l`` (so ``l = len(...)``).

    Raises
    ------
    ConfigError
        If a parameter is out of range.
    """

    n: int
    threshold: int
    verification_base: int
    verification_keys: tuple[int, ...]
    _paillier: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n, parties = self.n, len(self.verification_keys)
        if not isinstance(n, int) or n < 2**255 or n % 2 == 0:
            raise ConfigError("n must be an odd integer of at least 256 bits")
        if parties < 1 or not 1 <= self.threshold <= parties:
            raise ConfigError(f"threshold must be in 1..{parties}, got {self.threshold}")
        n2 = n * n
        for name, value in [("verification_base", self.verification_base)] + [
            (f"verification_keys[{i}]", v) for i, v in enumerate(self.verification_keys)
        ]:
            if not isinstance(value, int) or not 1 < value < n2 or math.gcd(value, n) != 1:
                raise ConfigError(f"{name} must be a unit of Z*_(N^2)")
        object.__setattr__(self, "_paillier", paillier.PaillierPublicKey(n))

    @property
    def parties(self) -> int:
        """``l``, the number of key shares."""
        return len(self.verification_keys)

    @property
    def key_bits(self) -> int:
        """Bit length of ``N``."""
        return self.n.bit_length()

    @property
    def n_squared(self) -> int:
        """``N^2``, the ciphertext modulus."""
        return int(self._paillier.nsquare)

    @property
    def ciphertext_bytes(self) -> int:
        """Width of one serialized ciphertext (or partial decryption), in bytes."""
        return (self.n_squared.bit_length() + 7) // 8

    @property
    def delta(self) -> int:
        """``Delta = l!``, which clears the denominators of the Lagrange coefficients."""
        return math.factorial(self.parties)

    @property
    def paillier(self) -> paillier.PaillierPublicKey:
        """The same key as a ``phe`` public key (``g = N + 1``), e.g. for unpacked encryption."""
        return self._paillier

    @cached_property
    def key_id(self) -> bytes:
        """SHA-256 of the whole public key; ciphertexts and partial decryptions carry it."""
        h = hashlib.sha256(_KEY_ID_DOMAIN)
        width = self.ciphertext_bytes
        h.update(self.threshold.to_bytes(4, "big") + self.parties.to_bytes(4, "big"))
        h.update(self.n.to_bytes(width, "big"))
        for v in (self.verification_base, *self.verification_keys):
            h.update(v.to_bytes(width, "big"))
        return h.digest()

    def to_json(self) -> str:
        """Serialize to JSON (integers as hex strings). Contains nothing secret."""
        return json.dumps(
            {
                "scheme": "fedseal-threshold-paillier-v1",
                "n": hex(self.n),
                "threshold": self.threshold,
                "verification_base": hex(self.verification_base),
                "verification_keys": [hex(v) for v in self.verification_keys],
                "key_id": self.key_id.hex(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ThresholdPublicKey:
        """Parse :meth:`to_json` output; the stored key id must match the recomputed one.

        Raises
        ------
        ConfigError
            If the document is malformed or its key id does not match its contents.
        """
        try:
            doc = json.loads(text)
            if doc["scheme"] != "fedseal-threshold-paillier-v1":
                raise ConfigError(f"unknown key scheme {doc['scheme']!r}")
            key = cls(
                n=int(doc["n"], 16),
                threshold=int(doc["threshold"]),
                verification_base=int(doc["verification_base"], 16),
                verification_keys=tuple(int(v, 16) for v in doc["verification_keys"]),
            )
            stored = bytes.fromhex(doc["key_id"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"malformed threshold Paillier public key: {exc}") from exc
        if stored != key.key_id:
            raise ConfigError("public key document: key_id does not match the key")
        return key


class KeyShare(Secret):
    """Party ``i``'s share ``s_i`` of the decryption exponent, bound to one public key.

    Build one with :meth:`create` (the dealer does) or from :meth:`reveal` bytes read back from
    the silo's key file.

    Warnings
    --------
    ``t`` shares decrypt *any* ciphertext under the key. Keep each share on its own silo in a
    ``0600`` file; never log, audit, pickle or send it. ``reveal()`` is for writing that file.
    """

    __slots__ = ("_index", "_key_id", "_s")
    _MAGIC = b"FSPS1"

    def __init__(self, value: bytes) -> None:
        super().__init__(value)
        raw = self._value
        if len(raw) < 40 or raw[:5] != self._MAGIC:
            raise ConfigError("not a fedseal threshold Paillier key share")
        self._index = int.from_bytes(raw[5:7], "big")
        self._key_id = raw[7:39]
        self._s = gmpy2.mpz(int.from_bytes(raw[39:], "big"))
        if self._index < 1:
            raise ConfigError("key share index must be >= 1")

    @classmethod
    def create(cls, *, index: int, key_id: bytes, value: int) -> KeyShare:
        """Wrap share ``s_index = value`` of the key whose id is ``key_id``."""
        if not 1 <= index < 2**16 or len(key_id) != 32 or value < 0:
            raise ConfigError("key share: index must be in 1..65535 and key_id 32 bytes")
        body = int(value).to_bytes((int(value).bit_length() + 7) // 8 or 1, "big")
        return cls(cls._MAGIC + index.to_bytes(2, "big") + bytes(key_id) + body)

    @property
    def index(self) -> int:
        """The party index ``i`` (1-based). Not secret."""
        return self._index

    @property
    def key_id(self) -> bytes:
        """Id of the public key this share belongs to. Not secret."""
        return self._key_id

    def exponent(self) -> Any:
        """Return ``s_i`` as a gmpy2 integer (for :mod:`threshold` only; see class warning)."""
        return self._s

    def __repr__(self) -> str:
        return f"KeyShare(index={self._index}, <redacted>)"

    __str__ = __repr__
