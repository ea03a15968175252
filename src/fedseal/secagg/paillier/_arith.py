"""Big-integer helpers shared by the Paillier modules (gmpy2 throughout, for speed).

Nothing here is a recipe: these are the building blocks under :mod:`fedseal.secagg.paillier`.
Multi-exponentiation follows Pippenger's bucket method (see Bernstein et al., "Faster batch
forgery identification", INDOCRYPT 2012, §4) with 8-bit windows, so each digit is one byte of the
exponent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

import gmpy2
import numpy as np
import numpy.typing as npt

from fedseal.secagg.hazmat.randomness import RandomSource

__all__ = [
    "chunked",
    "element_bytes",
    "elements_from_bytes",
    "multi_exp",
    "parallel_map",
    "random_below",
    "random_unit",
]

T = TypeVar("T")
R = TypeVar("R")

#: Extra random bits drawn before reducing modulo a bound: the bias is below 2^-128.
_SLACK_BITS = 128


def random_below(bound: Any, rng: RandomSource) -> Any:
    """Return an integer in ``[0, bound)``, statistically close to uniform (bias < 2^-128)."""
    nbytes = (int(bound).bit_length() + _SLACK_BITS + 7) // 8
    return gmpy2.mpz(int.from_bytes(rng.token_bytes(nbytes), "big")) % bound


def random_unit(modulus: Any, rng: RandomSource) -> Any:
    """Return a uniform element of the unit group ``Z*_modulus`` (rejection on non-units)."""
    while True:
        r = random_below(modulus, rng)
        if r > 1 and gmpy2.gcd(r, modulus) == 1:
            return r


def element_bytes(values: Iterable[Any], width: int) -> bytes:
    """Concatenate non-negative integers as fixed-width big-endian fields of ``width`` bytes."""
    return b"".join(int(v).to_bytes(width, "big") for v in values)


def elements_from_bytes(data: bytes, width: int) -> list[Any]:
    """Split ``data`` into ``width``-byte big-endian integers (inverse of :func:`element_bytes`)."""
    if width <= 0 or len(data) % width:
        raise ValueError(f"data length {len(data)} is not a multiple of {width}")
    return [
        gmpy2.mpz(int.from_bytes(data[i : i + width], "big")) for i in range(0, len(data), width)
    ]


def multi_exp(bases: Sequence[Any], digits: npt.NDArray[np.uint8], modulus: Any) -> Any:
    """Return ``prod(bases[j] ** e_j) mod modulus`` for short exponents given as bytes.

    Parameters
    ----------
    bases : sequence of int
        Group elements.
    digits : ndarray of uint8, shape (len(bases), w)
        Row ``j`` is the big-endian encoding of exponent ``e_j``.
    modulus : int
        The modulus.

    Pippenger's bucket method: per byte position, bases are multiplied into 255 buckets by
    their digit, and the buckets are folded with two running products (511 multiplications), so
    the cost is about ``w * (len(bases) + 511)`` multiplications instead of ``8 * w`` per base.
    """
    if digits.shape[0] != len(bases):
        raise ValueError("one exponent per base is required")
    result = gmpy2.mpz(1)
    for column in range(digits.shape[1]):
        if column:
            result = gmpy2.powmod(result, 256, modulus)
        col = digits[:, column]
        buckets: list[Any] = [None] * 256
        for j in np.flatnonzero(col).tolist():
            d = int(col[j])
            b = buckets[d]
            buckets[d] = bases[j] if b is None else b * bases[j] % modulus
        running = gmpy2.mpz(1)
        acc = gmpy2.mpz(1)
        for d in range(255, 0, -1):
            if buckets[d] is not None:
                running = running * buckets[d] % modulus
            if running != 1:
                acc = acc * running % modulus
        result = result * acc % modulus
    return result


def chunked(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """Split ``items`` into at most ``parts`` contiguous, nearly equal, non-empty slices."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out: list[Sequence[T]] = []
    start = 0
    for k in range(parts):
        stop = start + size + (1 if k < extra else 0)
        out.append(items[start:stop])
        start = stop
    return out


def parallel_map(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    executor: Executor | None,
    *,
    parts: int = 0,
) -> list[R]:
    """Apply a batch function to ``items`` in chunks, on ``executor`` if one is given.

    ``fn`` maps a chunk to a list of results; results come back in order. The chunk function
    runs with gmpy2 allowed to release the GIL, so a thread pool uses several cores. fedseal never
    creates threads itself (sans-IO rule): the caller injects the executor.
    """

    def run(chunk: Sequence[T]) -> list[R]:
        # A ``with gmpy2.context(...)`` block does not release the GIL in worker threads with
        # gmpy2 2.3 (measured); setting the thread's context does.
        previous = gmpy2.get_context()
        gmpy2.set_context(gmpy2.context(previous, allow_release_gil=True))
        try:
            return fn(chunk)
        finally:
            gmpy2.set_context(previous)

    if executor is None or len(items) < 2:
        return run(items)
    chunks = chunked(items, parts or 4 * _workers_hint(executor))
    out: list[R] = []
    for part in executor.map(run, chunks):
        out.extend(part)
    return out


def _workers_hint(executor: Executor) -> int:
    workers = getattr(executor, "_max_workers", None)
    return workers if isinstance(workers, int) and workers > 0 else 2
