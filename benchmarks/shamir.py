"""Shamir: reconstruct 100 secrets shared among n = 100 (t = 67), batched vs one by one."""

from __future__ import annotations

import time

from fedseal.secagg.hazmat import shamir
from fedseal.secagg.hazmat.randomness import SystemRandomSource


def main() -> None:
    """Print the two timings in milliseconds."""
    rng = SystemRandomSource()
    n, t = 100, 67
    secrets = [
        (int.from_bytes(rng.token_bytes(32), "big") % shamir.PRIME).to_bytes(32, "big")
        for _ in range(100)
    ]
    sets = [shamir.split(s, list(range(1, n + 1)), t, rng) for s in secrets]
    xs = tuple(range(1, t + 1))
    ys = [[share.y for share in shares[:t]] for shares in sets]
    shamir.lagrange_at_zero.cache_clear()
    start = time.perf_counter()
    assert shamir.reconstruct_many(xs, ys) == secrets
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for shares in sets:
        shamir.lagrange_at_zero.cache_clear()
        shamir.reconstruct(shares, t)
    single = time.perf_counter() - start
    print(f"batched {batched * 1e3:.1f} ms, one by one {single * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
