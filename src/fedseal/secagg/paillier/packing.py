"""Packing quantized slots into Paillier plaintexts, with headroom for the sum of n silos.

A silo's encoded contribution (``QuantizationSpec.encode``: ``[w*q(x), w, w*q(m)]``) is cut into
groups of ``k`` values; group ``j`` becomes the plaintext ``sum_i v_{jk+i} 2^(i*b)``. The slot
width ``b`` is the bit length of the largest possible *sum* ``max_silos * max_weight *
(2^bits - 1)``, so adding up to ``max_silos`` plaintexts never carries from one slot into the
next; ``k = floor((|N| - 1) / b)`` keeps every packed sum below ``2^(|N| - 1) < N``, so nothing
wraps modulo ``N`` either. Unpacking is exact. This is the "batching" of Ge and Zdonik (VLDB 2007)
and of BatchCrypt (Zhang et al., USENIX ATC 2020), with unsigned slots since the quantizer
already shifts values to be non-negative.

Packing and unpacking go through numpy bit arrays (``unpackbits``/``packbits``) and one
``int.from_bytes`` / ``int.to_bytes`` per plaintext, so 100k values take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.secagg.paillier.keys import ThresholdPublicKey
from fedseal.secagg.quantize import QuantizationSpec

__all__ = ["PackingLayout"]


@dataclass(frozen=True, kw_only=True)
class PackingLayout:
    """Where each integer goes: ``slots_per_plaintext`` slots of ``slot_bits`` bits each.

    Build it with :meth:`for_spec` (the usual way) or directly.

    Parameters
    ----------
    length : int
        Number of integers in one contribution (``spec.encoded_length(dim)``).
    max_value : int
        Largest integer one silo may contribute in a slot.
    max_summands : int
        Largest number of contributions that may be added up.
    plaintext_bits : int
        Bits available per plaintext, ``|N| - 1``.

    Raises
    ------
    ConfigError
        If the sum of ``max_summands`` values does not fit in 64 bits or in one plaintext.
    """

    length: int
    max_value: int
    max_summands: int
    plaintext_bits: int

    def __post_init__(self) -> None:
        if self.length < 1 or self.max_value < 1 or self.max_summands < 1:
            raise ConfigError("length, max_value and max_summands must be >= 1")
        if self.slot_bits > 64:
            raise ConfigError(
                f"a slot must hold max_summands * max_value = {self.max_sum}, which needs "
                f"{self.slot_bits} > 64 bits; lower bits, max_weight or max_silos"
            )
        if self.slot_bits > self.plaintext_bits:
            raise ConfigError(
                f"a slot of {self.slot_bits} bits does not fit a "
                f"{self.plaintext_bits}-bit plaintext"
            )

    @classmethod
    def for_spec(
        cls, spec: QuantizationSpec, *, dim: int, public_key: ThresholdPublicKey
    ) -> PackingLayout:
        """The layout for ``spec``'s encoding of a ``dim``-coordinate update under ``public_key``.

        The headroom check ``max_silos * max_weight * (2^bits - 1) < 2^slot_bits`` happens here,
        before any round starts.
        """
        if dim < 1:
            raise ConfigError(f"dim must be >= 1, got {dim}")
        return cls(
            length=spec.encoded_length(dim),
            max_value=spec.max_weight * spec.levels,
            max_summands=spec.max_silos,
            plaintext_bits=public_key.key_bits - 1,
        )

    @property
    def max_sum(self) -> int:
        """Largest value a slot can hold after summation, ``max_summands * max_value``."""
        return self.max_summands * self.max_value

    @property
    def slot_bits(self) -> int:
        """Width of a slot: the bit length of :attr:`max_sum`."""
        return self.max_sum.bit_length()

    @property
    def slots_per_plaintext(self) -> int:
        """How many slots one plaintext holds."""
        return self.plaintext_bits // self.slot_bits

    @property
    def count(self) -> int:
        """Number of plaintexts (hence ciphertexts) per contribution."""
        return -(-self.length // self.slots_per_plaintext)

    def pack(self, values: npt.NDArray[Any]) -> list[int]:
        """Pack one contribution into :attr:`count` plaintexts.

        Raises
        ------
        ConfigError
            If ``values`` has the wrong length, is not unsigned, or exceeds :attr:`max_value`.
        """
        v = np.asarray(values)
        if v.shape != (self.length,) or v.dtype.kind != "u":
            raise ConfigError(
                f"values must be {self.length} unsigned integers, got {v.shape} of {v.dtype}"
            )
        if v.size and int(v.max()) > self.max_value:
            raise ConfigError(f"a value exceeds max_value={self.max_value}; sums could overflow")
        k, b = self.slots_per_plaintext, self.slot_bits
        padded = np.zeros(self.count * k, dtype="<u8")
        padded[: self.length] = v
        bits = np.unpackbits(padded.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        rows = np.packbits(bits[:, :b].reshape(self.count, k * b), axis=1, bitorder="little")
        return [int.from_bytes(row.tobytes(), "little") for row in rows]

    def unpack(self, plaintexts: list[int]) -> npt.NDArray[np.uint64]:
        """Unpack summed plaintexts into the summed integer vector (``uint64``).

        Cast the result to ``spec.dtype`` and pass it to ``spec.decode_sum``; every slot is at
        most :attr:`max_sum` < ``2^spec.modulus_bits``, so the cast is exact.

        Raises
        ------
        ProtocolViolation
            If the count is wrong, a plaintext uses bits above its slots, or a slot exceeds
            :attr:`max_sum` (some silo encoded out-of-range values).
        """
        if len(plaintexts) != self.count:
            raise ProtocolViolation(f"expected {self.count} plaintexts, got {len(plaintexts)}")
        k, b = self.slots_per_plaintext, self.slot_bits
        width = (k * b + 7) // 8
        limit = 1 << (k * b)
        if any(not 0 <= int(x) < limit for x in plaintexts):
            raise ProtocolViolation("a plaintext overflows its slots")
        raw = b"".join(int(x).to_bytes(width, "little") for x in plaintexts)
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(self.count, width)
        bits = np.unpackbits(rows, axis=1, bitorder="little")[:, : k * b].reshape(-1, b)
        wide = np.zeros((bits.shape[0], 64), dtype=np.uint8)
        wide[:, :b] = bits
        out = np.packbits(wide, axis=1, bitorder="little").view("<u8").ravel()[: self.length]
        if out.size and int(out.max()) > self.max_sum:
            raise ProtocolViolation(
                "a summed slot exceeds max_sum; a silo sent out-of-range values"
            )
        return out.astype(np.uint64)
