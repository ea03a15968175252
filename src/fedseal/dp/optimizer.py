"""Opacus' DP optimizer with its Gaussian noise drawn from :class:`~fedseal.dp.noise.SecureRandom`.

DP-SGD (Abadi et al., CCS 2016, Algorithm 1) clips each example's gradient to norm C, sums, adds
N(0, σ²C²) to every coordinate and rescales. Opacus' ``DPOptimizer`` does all of that; we only
override :meth:`add_noise`, the one place it calls ``torch.normal``. Clipping, accumulation,
scaling and the step itself stay Opacus' code.

The override draws the noise for *all* parameters in one :meth:`SecureRandom.gaussian` call
(one AES-CTR call per step) and keeps the floating-point-attack mitigation of Opacus' secure mode
(four draws summed and halved; Holohan & Braghin, arXiv:2107.10138, §5.1).
"""

from __future__ import annotations

from typing import Any

import torch
from opacus.optimizers import DPOptimizer

# Private helpers of the same Opacus module; they guard against adding noise twice to one
# accumulated gradient. Pinned by the ``opacus>=1.5,<1.7`` requirement.
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

from fedseal.dp.noise import SecureRandom

__all__ = ["SecureDPOptimizer"]


class SecureDPOptimizer(DPOptimizer):  # type: ignore[misc]
    """``opacus.optimizers.DPOptimizer`` whose noise comes from a CSPRNG.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The wrapped (non-private) optimizer.
    noise_multiplier, max_grad_norm, expected_batch_size, loss_reduction
        As for ``DPOptimizer``.
    rng : SecureRandom
        Source of every noise draw.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        expected_batch_size: float,
        loss_reduction: str = "mean",
        rng: SecureRandom,
    ) -> None:
        super().__init__(
            optimizer,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            expected_batch_size=expected_batch_size,
            loss_reduction=loss_reduction,
            secure_mode=False,  # Opacus' own secure path would need torchcsprng
        )
        self._secure_rng = rng

    def add_noise(self) -> None:
        """Add N(0, (σC)²) from the CSPRNG to each clipped, summed gradient; store in ``p.grad``."""
        params: list[Any] = list(self.params)
        for p in params:
            _check_processed_flag(p.summed_grad)
        sizes = [int(p.summed_grad.numel()) for p in params]
        std = float(self.noise_multiplier * self.max_grad_norm)
        flat = torch.from_numpy(self._secure_rng.gaussian(std, sum(sizes)))
        offset = 0
        for p, size in zip(params, sizes, strict=True):
            summed = p.summed_grad
            noise = flat[offset : offset + size].view(summed.shape)
            offset += size
            p.grad = (summed + noise.to(device=summed.device, dtype=summed.dtype)).view_as(p)
            _mark_as_processed(p.summed_grad)
