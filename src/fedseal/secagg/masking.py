"""Pairwise and self masks (Bonawitz et al. 2017, §3 and §4 round 2 "MaskedInput").

Silo ``u`` with index ``i_u`` sends ``y_u = x_u + PRG(b_u) + sum_{v in N(u), i_v > i_u} PRG(s_uv)
- sum_{v in N(u), i_v < i_u} PRG(s_uv)  (mod 2^k)``, where ``s_uv`` is derived from the X25519
agreement of the silos' ``s`` keys and bound to the round. Summed over silos that survive, the
pair masks cancel; the server removes the self masks of survivors and the pair masks that
survivors shared with silos that dropped after sharing their keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, wait
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.secagg.hazmat.kdf import hkdf
from fedseal.secagg.hazmat.prg import MaskExpander
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext

__all__ = ["mask_input", "pair_key", "share_key", "unmask_sum"]


def pair_key(own: AgreementKey, peer_public: bytes, context: RoundContext, i: int, j: int) -> bytes:
    """The 16-byte PRG key ``s_ij`` shared by the silos with indices ``i`` and ``j``."""
    low, high = min(i, j), max(i, j)
    return hkdf(own.agree(peer_public), 16, "pair-mask", *context.fields(), low, high)


def share_key(
    own: AgreementKey, peer_public: bytes, context: RoundContext, sender: int, receiver: int
) -> bytes:
    """The 32-byte AES-GCM key for shares sent from ``sender`` to ``receiver`` (one direction)."""
    return hkdf(own.agree(peer_public), 32, "share-key", *context.fields(), sender, receiver)


def mask_input(
    encoded: npt.NDArray[Any],
    *,
    index: int,
    seed: MaskSeed,
    s_key: AgreementKey,
    peers: Mapping[int, bytes],
    context: RoundContext,
    out: npt.NDArray[Any] | None = None,
) -> npt.NDArray[Any]:
    """Return ``y = x + PRG(b) +- PRG(s_uv)`` for ``x = encoded``, written into ``out``.

    ``peers`` maps the index of every neighbour that shared keys to its ``s`` public key.
    ``encoded`` is only read; ``out`` defaults to a new array, and ``out=encoded`` masks in
    place. Either way the vector is read and written once, whatever the number of masks.
    """
    if out is None:
        out = np.empty(encoded.shape, dtype=encoded.dtype)
    add: list[bytes] = [seed.prg_key(context)]
    subtract: list[bytes] = []
    for j, peer_public in peers.items():
        key = pair_key(s_key, peer_public, context, index, j)
        (add if j > index else subtract).append(key)
    MaskExpander(out.dtype.type).apply(out, add=add, subtract=subtract, source=encoded)
    return out


def unmask_sum(
    total: npt.NDArray[Any],
    *,
    seeds: Sequence[MaskSeed],
    dropped: Sequence[tuple[int, AgreementKey, Mapping[int, bytes]]],
    context: RoundContext,
    executor: Executor | None = None,
    parts: int = 1,
) -> None:
    """Remove masks from the sum of survivors' masked inputs, in place.

    Parameters
    ----------
    total : ndarray
        Sum of the survivors' masked inputs.
    seeds : sequence of MaskSeed
        The reconstructed self-mask seeds of every survivor.
    dropped : sequence of (index, AgreementKey, {survivor index: s_pk})
        For each silo that dropped after sharing: its index, its reconstructed ``s_sk`` and the
        survivors that masked with it. Survivor ``i`` added ``+PRG(s_ij)`` when ``j > i`` and
        ``-PRG(s_ij)`` otherwise, so the opposite is applied here.
    context : RoundContext
        The round.
    executor : concurrent.futures.Executor, optional
        Threads to expand the masks on (the caller's; none is created here). AES and the
        additions release the GIL, so ``parts`` threads take about ``1/parts`` of the time.
    parts : int, optional
        Into how many groups the masks are split on ``executor`` (default 1: all in this
        thread). The first group is applied to ``total`` in place, each other one into a
        vector of its own that is then added in, so ``parts - 1`` vectors of ``total``'s size
        are held for the call. The result does not depend on it.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    # Each mask as (how to derive its PRG key, added?): survivor i added +PRG(s_ij) when j > i,
    # so the opposite is applied here.
    masks: list[tuple[Callable[[], bytes], bool]] = [
        (functools.partial(seed.prg_key, context), False) for seed in seeds
    ]
    for j, key, survivors in dropped:
        for i, public in survivors.items():
            masks.append((functools.partial(pair_key, key, public, context, i, j), j < i))
    groups = [masks[g::parts] for g in range(parts) if masks[g::parts]]
    if executor is None or len(groups) < 2:
        _expand(total, masks)
        return
    # Each thread derives its group's keys (X25519 runs in libsodium, which releases the GIL)
    # and then expands them; the first group works on total in place.
    futures = [
        executor.submit(_expand, total if g == 0 else np.zeros_like(total), group)
        for g, group in enumerate(groups)
    ]
    wait(futures)  # every group has stopped writing into total before any error is raised
    futures[0].result()
    for future in futures[1:]:
        np.add(total, future.result(), out=total)  # wraps mod 2^k, as the masks do


def _expand(
    target: npt.NDArray[Any], masks: Sequence[tuple[Callable[[], bytes], bool]]
) -> npt.NDArray[Any]:
    """Derive every mask's key, then apply them all to ``target`` in one pass."""
    add: list[bytes] = []
    subtract: list[bytes] = []
    for derive, added in masks:
        (add if added else subtract).append(derive())
    MaskExpander(target.dtype.type).apply(target, add=add, subtract=subtract)
    return target
