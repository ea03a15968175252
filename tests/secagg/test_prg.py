"""Chunked mask expansion: byte-identical to one-shot AES-128-CTR, in place or out of place."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat import prg
from fedseal.secagg.hazmat.prg import MaskExpander
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext
from fedseal.secagg.masking import mask_input, unmask_sum

RNG = SeededRandomSource(11)
DTYPES = [np.uint32, np.uint64]


def _one_shot(key: bytes, n: int, dtype: type) -> np.ndarray:
    """The reference: one CTR call from the all-zero counter block over the whole vector."""
    itemsize = np.dtype(dtype).itemsize
    ctr = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    stream = ctr.update(bytes(n * itemsize))
    return np.frombuffer(stream, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)


def _chunk_words(dtype: type) -> int:
    return prg._CHUNK_BYTES // np.dtype(dtype).itemsize


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 4095, 4096, 4097, 100_003])
def test_chunked_keystream_equals_one_shot_ctr(dtype: type, n: int) -> None:
    key = RNG.token_bytes(16)
    acc = np.zeros(n, dtype=dtype)
    MaskExpander(dtype).apply(acc, add=[key])
    assert np.array_equal(acc, _one_shot(key, n, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_chunk_boundaries_and_many_keys(dtype: type, offset: int) -> None:
    n = 2 * _chunk_words(dtype) + offset  # a tail chunk that is short, empty or one word long
    keys = [RNG.token_bytes(16) for _ in range(5)]
    start = np.arange(n, dtype=dtype) * dtype(2654435761)
    acc = start.copy()
    MaskExpander(dtype).apply(acc, add=keys[:3], subtract=keys[3:])
    expected = start.copy()
    for i, key in enumerate(keys):
        ks = _one_shot(key, n, dtype)
        expected = expected + ks if i < 3 else expected - ks  # wraps mod 2^k
    assert np.array_equal(acc, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_source_is_read_not_written_and_matches_in_place(dtype: type) -> None:
    n = _chunk_words(dtype) + 7
    keys = [RNG.token_bytes(16) for _ in range(4)]
    source = np.arange(n, dtype=dtype)
    out = np.empty(n, dtype=dtype)
    expander = MaskExpander(dtype)
    expander.apply(out, add=keys[:2], subtract=keys[2:], source=source)
    assert np.array_equal(source, np.arange(n, dtype=dtype))
    in_place = source.copy()
    expander.apply(in_place, add=keys[:2], subtract=keys[2:])
    assert np.array_equal(out, in_place)
    # A strided (non-contiguous) source is fine: only the accumulator must be contiguous.
    wide = np.repeat(source, 2)
    expander.apply(out, add=keys[:2], subtract=keys[2:], source=wide[::2])
    assert np.array_equal(out, in_place)
    # With no keys, the source is copied.
    expander.apply(out, source=source)
    assert np.array_equal(out, source)


def test_source_misuse_is_refused() -> None:
    expander = MaskExpander(np.uint32)
    acc = np.zeros(10, dtype=np.uint32)
    key = [bytes(16)]
    with pytest.raises(ValueError, match="source"):
        expander.apply(acc, add=key, source=np.zeros(10, dtype=np.uint64))
    with pytest.raises(ValueError, match="source"):
        expander.apply(acc, add=key, source=np.zeros(11, dtype=np.uint32))
    with pytest.raises(ValueError, match="overlap"):
        expander.apply(acc[1:], add=key, source=acc[:-1])
    expander.apply(acc, add=key, source=acc)  # the accumulator itself is in place
    assert np.array_equal(acc, _one_shot(bytes(16), 10, np.uint32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mask_input_leaves_its_input_alone_and_masks_cancel(dtype: type) -> None:
    context = RoundContext("dep", 3)
    n = 3 * _chunk_words(dtype) // 2
    keys = [AgreementKey.generate(RNG) for _ in range(3)]
    seeds = [MaskSeed.generate(RNG) for _ in range(3)]
    publics = {i: k.public_bytes() for i, k in enumerate(keys)}
    inputs = [np.arange(n, dtype=dtype) * dtype(i + 1) for i in range(3)]
    total = np.zeros(n, dtype=dtype)
    for i in range(2):  # silo 2 drops after sharing its keys
        peers = {j: p for j, p in publics.items() if j != i}
        masked = mask_input(
            inputs[i], index=i, seed=seeds[i], s_key=keys[i], peers=peers, context=context
        )
        assert np.array_equal(inputs[i], np.arange(n, dtype=dtype) * dtype(i + 1))
        again = inputs[i].copy()
        kwargs = {"index": i, "seed": seeds[i], "s_key": keys[i], "peers": peers}
        assert mask_input(again, **kwargs, context=context, out=again) is again
        assert np.array_equal(again, masked)
        total += masked
    unmask_sum(
        total,
        seeds=seeds[:2],
        dropped=[(2, keys[2], {0: publics[0], 1: publics[1]})],
        context=context,
    )
    assert np.array_equal(total, inputs[0] + inputs[1])


def test_agreement_is_symmetric_and_small_order_points_are_refused() -> None:
    a, b = AgreementKey.generate(RNG), AgreementKey.generate(RNG)
    assert a.agree(b.public_bytes()) == b.agree(a.public_bytes())
    assert AgreementKey(a.reveal()).agree(b.public_bytes()) == a.agree(b.public_bytes())
    with pytest.raises(ProtocolViolation):
        a.agree(bytes(32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [*range(0, 19), 65_531, 65_536, 65_537])
def test_the_two_head_blocks_and_the_gcm_stream_join_into_one_ctr_keystream(
    dtype: type, n: int
) -> None:
    # Blocks 0 and 1 come from ECB, the rest from GCM's counter mode: every length around the
    # 32-byte seam, and around a chunk of the expander, gives exactly the CTR keystream.
    key = RNG.token_bytes(16)
    acc = np.zeros(n, dtype=dtype)
    MaskExpander(dtype).apply(acc, add=[key])
    assert np.array_equal(acc, _one_shot(key, n, dtype))


def test_gcm_keystream_is_ctr_from_block_two_sp800_38d() -> None:
    # SP 800-38D §7.1: with a 96-bit IV, J0 = IV || 0^31 || 1 and encryption starts at inc32(J0).
    key = RNG.token_bytes(16)
    gcm = Cipher(algorithms.AES(key), modes.GCM(bytes(12))).encryptor().update(bytes(4096))
    ctr = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(4096 + 32))
    assert gcm == ctr[32:]


def test_a_vector_longer_than_the_gcm_counter_is_refused() -> None:
    class Huge:  # stands for an array of 2^36 bytes without allocating it
        dtype = np.dtype("<u4")
        ndim, size = 1, prg.MAX_KEYSTREAM_BYTES // 4 + 1
        nbytes = size * 4
        flags = np.zeros(1).flags

    with pytest.raises(ValueError, match="at most"):
        MaskExpander(np.uint32).apply(Huge(), add=[bytes(16)])  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 262_143, 262_144, 600_001])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_unmask_sum_on_threads_equals_unmask_sum_in_one(n: int, parts: int) -> None:
    # The keys are split into ``parts`` groups; groups beyond the number of keys are empty.
    from concurrent.futures import ThreadPoolExecutor

    context = RoundContext("dep", 4)
    seeds = [MaskSeed.generate(RNG) for _ in range(3)]
    key, peer = AgreementKey.generate(RNG), AgreementKey.generate(RNG)
    dropped = [(2, key, {1: peer.public_bytes(), 3: peer.public_bytes()})]
    start = np.arange(n, dtype=np.uint32)
    expected = start.copy()
    unmask_sum(expected, seeds=seeds, dropped=dropped, context=context)
    with ThreadPoolExecutor(parts) as pool:
        got = start.copy()
        unmask_sum(got, seeds=seeds, dropped=dropped, context=context, executor=pool, parts=parts)
    assert np.array_equal(got, expected)
    assert n == 0 or not np.array_equal(got, start)


def test_unmask_sum_refuses_zero_parts() -> None:
    with pytest.raises(ValueError, match="parts"):
        unmask_sum(
            np.zeros(4, np.uint32), seeds=[], dropped=[], context=RoundContext("d", 1), parts=0
        )
