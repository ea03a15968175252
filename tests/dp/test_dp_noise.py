"""The CSPRNG noise and Poisson sampler, tested statistically with fixed keys (not flaky).

Thresholds: p-values are compared with 1e-3 on fixed-key samples, so each test is
deterministic; moment checks use bounds of about 6 standard errors.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from dp_helpers import seeded_key_source
from scipy import stats

from fedseal.dp.noise import SecureRandom
from fedseal.dp.optimizer import SecureDPOptimizer
from fedseal.dp.sampling import PoissonBatchSampler

N = 200_000


def test_uniform_bits_are_uniform() -> None:
    rng = SecureRandom(seeded_key_source(b"uniform"))
    u = rng.uniform(N)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    words = rng.uint64(N)
    bits = np.unpackbits(words.view(np.uint8)).mean()
    assert abs(bits - 0.5) < 6 * 0.5 / math.sqrt(64 * N)


def test_keystream_is_aes_ctr_and_continues_across_calls() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = bytes(range(16))
    rng = SecureRandom(lambda n: key)
    got = rng.random_bytes(10) + rng.random_bytes(54)
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    assert got == enc.update(bytes(64))


def test_standard_normal_moments_and_ks() -> None:
    z = SecureRandom(seeded_key_source(b"normal")).standard_normal(N)
    assert abs(z.mean()) < 6 / math.sqrt(N)
    assert abs(z.var() - 1.0) < 6 * math.sqrt(2 / N)
    assert stats.kstest(z, "norm").pvalue > 1e-3


@pytest.mark.parametrize("std", [0.5, 2.0, 37.0])
def test_gaussian_matches_n0_std2(std: float) -> None:
    g = SecureRandom(seeded_key_source(b"gauss%f" % std)).gaussian(std, N)
    assert g.dtype == np.float64 and g.shape == (N,)
    assert abs(g.mean()) < 6 * std / math.sqrt(N)
    assert abs(g.var() / std**2 - 1.0) < 6 * math.sqrt(2 / N)
    assert stats.kstest(g, "norm", args=(0.0, std)).pvalue > 1e-3
    # Fourth moment too: a sum of 4 normals is still normal (kurtosis 3).
    assert abs(stats.kurtosis(g, fisher=False) - 3.0) < 6 * math.sqrt(24 / N)


def test_gaussian_from_os_urandom_is_sane() -> None:
    g = SecureRandom().gaussian(1.0, N)
    assert abs(g.mean()) < 6 / math.sqrt(N)
    assert abs(g.std() - 1.0) < 0.02


def test_gaussian_uses_four_draws_per_output() -> None:
    rng = SecureRandom(seeded_key_source(b"count"))
    rng.gaussian(1.0, 1000)
    assert rng._used == 4 * 1000 * 8  # four normals per value, one 64-bit word per normal


def test_rekeys_before_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import fedseal.dp.noise as noise

    monkeypatch.setattr(noise, "_REKEY_BYTES", 64)
    keys: list[bytes] = []
    source = seeded_key_source(b"rekey")

    def recording(n: int) -> bytes:
        keys.append(source(n))
        return keys[-1]

    rng = noise.SecureRandom(recording)
    for _ in range(5):
        rng.random_bytes(40)
    assert len(set(keys)) == 5


def test_secure_random_refuses_pickling_and_redacts_repr() -> None:
    rng = SecureRandom(lambda n: b"k" * n)
    with pytest.raises(TypeError):
        pickle.dumps(rng)
    assert "redacted" in repr(rng)


def test_bad_arguments() -> None:
    rng = SecureRandom()
    with pytest.raises(ValueError, match="std"):
        rng.gaussian(-1.0, 3)
    with pytest.raises(ValueError, match="16 bytes"):
        SecureRandom(lambda n: b"short")
    assert not rng.gaussian(0.0, 3).any()


def test_poisson_batch_sizes_are_binomial() -> None:
    n, q, steps = 400, 0.1, 4000
    rng = SecureRandom(seeded_key_source(b"poisson"))
    sampler = PoissonBatchSampler(n, q, steps, uniform=rng.uniform)
    batches = list(sampler)
    assert len(batches) == len(sampler) == steps
    sizes = np.array([len(b) for b in batches])
    assert abs(sizes.mean() - n * q) < 6 * math.sqrt(n * q * (1 - q) / steps)
    assert abs(sizes.var() / (n * q * (1 - q)) - 1.0) < 0.15
    # Chi-square against Binomial(n, q), tails pooled.
    edges = np.arange(25, 56)
    observed = np.array(
        [np.sum(sizes < edges[0])]
        + [np.sum(sizes == k) for k in edges]
        + [np.sum(sizes > edges[-1])]
    )
    pmf = stats.binom(n, q)
    expected = steps * np.array(
        [pmf.cdf(edges[0] - 1)] + [pmf.pmf(k) for k in edges] + [pmf.sf(edges[-1])]
    )
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Every example is included with probability q, independently of its index.
    counts = np.bincount(np.concatenate(batches), minlength=n)
    assert abs(counts.mean() / steps - q) < 0.005
    assert all(np.all(np.diff(b) > 0) for b in batches)  # no duplicates


def test_poisson_sampler_can_yield_empty_batches() -> None:
    sampler = PoissonBatchSampler(3, 0.01, 200, uniform=SecureRandom().uniform)
    assert any(len(b) == 0 for b in sampler)


def test_secure_optimizer_noise_has_sigma_c_over_b() -> None:
    sigma, clip, batch = 1.3, 0.7, 10.0
    model = torch.nn.Linear(400, 100)
    from opacus import GradSampleModule

    gsm = GradSampleModule(model, loss_reduction="sum")
    opt = SecureDPOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.0),
        noise_multiplier=sigma,
        max_grad_norm=clip,
        expected_batch_size=batch,
        rng=SecureRandom(seeded_key_source(b"opt")),
    )
    empty = torch.zeros(0, 400)
    with pytest.warns(UserWarning, match="backward hook"):
        gsm(empty).sum().backward()
    opt.step()  # empty batch: the gradient is pure noise / B
    noise = torch.cat([p.grad.flatten() for p in model.parameters()]).double().numpy()
    std = sigma * clip / batch
    assert abs(noise.mean()) < 6 * std / math.sqrt(noise.size)
    assert stats.kstest(noise, "norm", args=(0.0, std)).pvalue > 1e-3
