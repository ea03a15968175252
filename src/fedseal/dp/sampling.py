"""Poisson sampling of mini-batches, with the decisions drawn from a CSPRNG.

The privacy analyses Opacus implements -- the sampled Gaussian mechanism under RDP (Mironov,
Talwar & Zhang 2019, arXiv:1908.10530) and under PRV (Gopi, Lee & Wutschitz, NeurIPS 2021) --
assume that every step includes each of the silo's ``n`` examples independently with the same
probability ``q``. :class:`PoissonBatchSampler` does exactly that: one Bernoulli(q) decision
per example per step, so batch sizes are Binomial(n, q) and a batch may be empty (the step still
runs and still adds noise, as the analysis requires).

It replaces Opacus' ``UniformWithReplacementSampler`` only to change where the coins come from:
in secure mode they are :meth:`fedseal.dp.noise.SecureRandom.uniform` draws, because a
predictable sampler would reveal which examples each noisy step used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

__all__ = ["PoissonBatchSampler", "UniformSource"]

#: ``uniform(n)`` returns ``n`` independent uniforms on [0, 1).
UniformSource = Callable[[int], npt.NDArray[np.float64]]


class PoissonBatchSampler:
    """Yields ``steps`` batches of example indices, each example kept with probability ``q``.

    Usable directly or as a ``torch.utils.data.DataLoader`` ``batch_sampler``.

    Parameters
    ----------
    num_examples : int
        Size ``n`` of the silo's training set.
    sample_rate : float
        ``q`` in (0, 1]: the probability that a given example is in a given batch. It must be
        the same ``q`` that is handed to the accountant.
    steps : int
        Number of batches per iteration over the sampler.
    uniform : callable
        ``uniform(n)`` -> n uniforms on [0, 1); pass ``SecureRandom().uniform`` in production.
    """

    def __init__(
        self, num_examples: int, sample_rate: float, steps: int, *, uniform: UniformSource
    ) -> None:
        if num_examples < 1:
            raise ValueError(f"num_examples must be >= 1, got {num_examples}")
        if not (math.isfinite(sample_rate) and 0.0 < sample_rate <= 1.0):
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self.num_examples = num_examples
        self.sample_rate = sample_rate
        self.steps = steps
        self._uniform = uniform

    def sample(self) -> npt.NDArray[np.int64]:
        """Draw one batch: the indices whose Bernoulli(q) coin came up heads (possibly none)."""
        keep = self._uniform(self.num_examples) < self.sample_rate
        return np.flatnonzero(keep).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[npt.NDArray[np.int64]]:
        for _ in range(self.steps):
            yield self.sample()

    def __len__(self) -> int:
        return self.steps
