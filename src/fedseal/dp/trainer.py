"""DP-SGD on one silo, one round at a time, with ε accounted over the whole deployment.

:class:`PrivateTrainer` holds one Opacus engine -- a ``GradSampleModule`` for per-example
gradients and a DP optimizer -- for the life of the trainer object. It runs DP-SGD (Abadi et al.,
CCS 2016): Poisson sampling with rate q (:mod:`fedseal.dp.sampling`), per-example clipping at C,
Gaussian noise N(0, σ²C²) from a CSPRNG (:mod:`fedseal.dp.optimizer`), and division by the
*configured* expected batch size B, a public constant (never the realised batch size, never a
floor of q·n; cf. Opacus issue #819).

ε is never held by the engine. Each :meth:`PrivateTrainer.fit` first asks the budget guard, which
rebuilds the accountant from the ledger (every round this silo ever ran, across restarts) plus
this round's plan, commits a ``begun`` row, and only then trains; see :mod:`fedseal.dp.ledger`
for the crash rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from opacus.validators import ModuleValidator
from torch import nn

from fedseal.dp.accounting import noise_multiplier_for, spent_epsilon
from fedseal.dp.config import DPConfig
from fedseal.dp.guard import ROUNDS_LIMIT, PrivacyPlan, plan_rounds, reserve_round
from fedseal.dp.ledger import PrivacyLedger
from fedseal.dp.noise import SecureRandom
from fedseal.dp.optimizer import SecureDPOptimizer
from fedseal.dp.sampling import PoissonBatchSampler
from fedseal.errors import ConfigError, ProtocolViolation

__all__ = ["PrivateTrainer"]

Weights = list[npt.NDArray[Any]]


def _loss(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    if output.shape[-1] == 1:  # one logit: binary logistic regression
        return nn.functional.binary_cross_entropy_with_logits(
            output.squeeze(-1), target.to(output.dtype), reduction=reduction
        )
    return nn.functional.cross_entropy(output, target, reduction=reduction)


class PrivateTrainer:
    """Trains one silo's model with DP-SGD and accounts every round in the silo's ledger.

    Parameters
    ----------
    model : torch.nn.Module or callable returning one
        A classifier whose output is ``(batch, classes)`` logits, or ``(batch, 1)`` for binary
        logistic regression. Must pass Opacus' ``ModuleValidator`` (no BatchNorm).
    x, y : numpy arrays
        The silo's training examples ``(n, features)`` and integer labels ``(n,)``.
    config : DPConfig
        The silo's privacy settings; δ, accountant and relation must match the ledger's.
    ledger : PrivacyLedger
        The silo's ledger (:meth:`PrivacyLedger.open`).
    batch_size : int
        Expected batch size B. Gradients are divided by B; ``q = B / n`` unless ``sample_rate``
        is given.
    steps_per_round, local_epochs : int, optional
        Exactly one: DP-SGD steps per round, or local epochs (``ceil(1/q)`` steps each).
    sample_rate : float, optional
        Poisson rate q, if it must not depend on ``n`` (see ``docs/privacy.md``).
    learning_rate : float
        SGD step size (the server may override it per round with ``config["lr"]``).
    eval_data : (x, y), optional
        Held-out data for :meth:`evaluate`; defaults to the training data.
    rng : SecureRandom, optional
        The CSPRNG for noise and sampling (tests inject a seeded one); ignored, and torch's
        default generator used, when ``config.secure_rng`` is False.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[], nn.Module],
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        config: DPConfig,
        ledger: PrivacyLedger,
        batch_size: int,
        steps_per_round: int | None = None,
        local_epochs: int | None = None,
        sample_rate: float | None = None,
        learning_rate: float = 0.1,
        eval_data: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        rng: SecureRandom | None = None,
    ) -> None:
        settings = ledger.settings
        mine = (config.delta, config.accountant, config.neighbouring_relation)
        if (settings.delta, settings.accountant, settings.relation) != mine:
            raise ConfigError(
                "config.delta, config.accountant and config.neighbouring_relation must match "
                "the ledger's"
            )
        self._x, self._y = _tensors(x, y, "training data")
        n = self.num_examples = int(self._x.shape[0])
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if sample_rate is None:
            sample_rate = config.sample_rate  # declared for the deployment, if it is
        q = batch_size / n if sample_rate is None else float(sample_rate)
        if not (math.isfinite(q) and 0.0 < q <= 1.0):
            raise ConfigError(f"sample_rate must be in (0, 1], got {q!r} (batch_size / n?)")
        if (steps_per_round is None) == (local_epochs is None):
            raise ConfigError("give exactly one of steps_per_round and local_epochs")
        steps = steps_per_round if local_epochs is None else local_epochs * math.ceil(1.0 / q)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps_per_round must be an int >= 1, got {steps!r}")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.config, self.ledger = config, ledger
        self.batch_size, self.sample_rate, self.steps_per_round = batch_size, q, steps
        self.learning_rate = float(learning_rate)
        self.noise_multiplier = noise_multiplier_for(config, sample_rate=q, steps_per_round=steps)
        self._eval = self._x, self._y
        if eval_data is not None:
            self._eval = _tensors(*eval_data, "eval_data")

        module = model if isinstance(model, nn.Module) else model()
        errors = ModuleValidator.validate(module, strict=False)
        if errors:
            raise ConfigError(f"model is not DP-SGD compatible (Opacus): {errors}")
        self._module = module
        self._gsm = GradSampleModule(module, loss_reduction="sum")
        self._sgd = torch.optim.SGD(module.parameters(), lr=self.learning_rate)
        common: dict[str, Any] = {
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": config.max_grad_norm,
            "expected_batch_size": float(batch_size),
            "loss_reduction": "mean",  # divide the noisy sum by the constant B
        }
        uniform: Callable[[int], npt.NDArray[np.float64]]
        if config.secure_rng:
            secure = rng if rng is not None else SecureRandom()
            self._optimizer: DPOptimizer = SecureDPOptimizer(self._sgd, rng=secure, **common)
            uniform = secure.uniform
        else:
            self._optimizer = DPOptimizer(self._sgd, **common)  # torch's default generator
            uniform = _torch_uniform
        self._sampler = PoissonBatchSampler(n, q, steps, uniform=uniform)

    def get_weights(self) -> Weights:
        """The model's ``state_dict`` values as numpy arrays, in ``state_dict`` order."""
        return [t.detach().cpu().numpy().copy() for t in self._module.state_dict().values()]

    def _checked_state(self, weights: Sequence[npt.ArrayLike]) -> dict[str, torch.Tensor]:
        current = self._module.state_dict()
        if len(weights) != len(current):
            raise ProtocolViolation(f"expected {len(current)} weight arrays, got {len(weights)}")
        state: dict[str, torch.Tensor] = {}
        for (name, old), new in zip(current.items(), weights, strict=True):
            array = np.asarray(new)
            if array.shape != tuple(old.shape) or not np.all(np.isfinite(array)):
                raise ProtocolViolation(f"weight {name!r}: bad shape or non-finite values")
            state[name] = torch.as_tensor(array, dtype=old.dtype)
        return state

    @property
    def epsilon(self) -> float:
        """ε spent so far by this silo over the whole deployment (from the ledger)."""
        s = self.ledger.settings
        return spent_epsilon(
            self.ledger.rounds(), delta=s.delta, accountant=s.accountant, relation=s.relation
        )

    def privacy_plan(self, *, limit: int = ROUNDS_LIMIT) -> PrivacyPlan:
        """How many more rounds this silo's remaining budget allows at its σ, q and steps.

        Counted from the ledger's history exactly as the budget guard counts: after
        ``plan.rounds`` more :meth:`fit` calls the next one raises ``PrivacyBudgetExceeded``
        (``plan.rounds == limit`` means at least ``limit``). Reads the ledger; spends nothing.
        """
        return plan_rounds(
            self.ledger,
            steps=self.steps_per_round,
            sample_rate=self.sample_rate,
            noise_multiplier=self.noise_multiplier,
            limit=limit,
        )

    def round_released(self, round_id: int) -> bool:
        """Record in the ledger that ``round_id``'s aggregate was released (reports only)."""
        return self.ledger.mark_released(round_id)

    def rounds_affordable(self, *, limit: int = ROUNDS_LIMIT) -> int:
        """``privacy_plan(limit=limit).rounds``: the rounds the remaining budget allows."""
        return self.privacy_plan(limit=limit).rounds

    def fit(
        self,
        weights: Sequence[npt.ArrayLike],
        round_id: int,
        config: Mapping[str, Any] | None = None,
    ) -> tuple[Weights, int, dict[str, float]]:
        """Run one round of DP-SGD from ``weights`` and return ``(weights, n, metrics)``.

        Order: validate ``weights``; budget guard (may raise, before any noise); commit the
        ``begun`` ledger row; load weights; train ``steps_per_round`` steps; mark the row done.

        ``config`` may carry ``"lr"`` and FedProx's ``"proximal_mu"`` (μ ≥ 0): the proximal
        gradient ``μ·(w - w_global)`` is added after clipping and noise, so it is a function of
        the noisy update and the public global model only, and ε is unchanged. Privacy
        parameters (σ, q, C, steps) come only from the silo's own settings, never from the
        server (a ``"local_epochs"`` entry is ignored for that reason). ``metrics`` carries only
        public quantities (ε, budget, σ, q, steps): a training loss would be an un-noised
        function of the data.

        Raises
        ------
        PrivacyBudgetExceeded
            The silo abstains: this round would exceed its ε budget. Nothing was trained.
        ProtocolViolation
            ``weights`` do not match the model.
        """
        state = self._checked_state(weights)
        lr = float((config or {}).get("lr", self.learning_rate))
        if not (math.isfinite(lr) and lr > 0):
            raise ProtocolViolation(f"config['lr'] must be > 0, got {lr!r}")
        mu = float((config or {}).get("proximal_mu", 0.0))
        if not (math.isfinite(mu) and mu >= 0):
            raise ProtocolViolation(f"config['proximal_mu'] must be >= 0, got {mu!r}")
        reservation = reserve_round(
            self.ledger,
            round_id=round_id,
            steps=self.steps_per_round,
            sample_rate=self.sample_rate,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.config.max_grad_norm,
        )
        self._module.load_state_dict(state)
        anchor = [p.detach().clone() for p in self._module.parameters()] if mu > 0 else []
        for group in self._sgd.param_groups:
            group["lr"] = lr
        self._gsm.train()
        with warnings.catch_warnings():
            # Linear first layers take inputs that need no grad; torch warns on every backward.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for idx in self._sampler:
                batch = torch.from_numpy(idx)
                self._optimizer.zero_grad(set_to_none=True)
                loss = _loss(self._gsm(self._x[batch]), self._y[batch], "sum")
                loss.backward()  # type: ignore[no-untyped-call]
                if not anchor:
                    self._optimizer.step()
                elif self._optimizer.pre_step():  # clip and noise: p.grad is the private grad
                    with torch.no_grad():
                        for p, p0 in zip(self._module.parameters(), anchor, strict=True):
                            if p.grad is not None:
                                p.grad.add_(p - p0, alpha=mu)
                    self._sgd.step()
        self.ledger.finish_round(reservation.row_id)
        metrics = {
            "epsilon": reservation.epsilon,
            "epsilon_budget": self.ledger.settings.epsilon_budget,
            "delta": self.config.delta,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": float(self.steps_per_round),
        }
        return self.get_weights(), self.num_examples, metrics

    def evaluate(self, weights: Sequence[npt.ArrayLike]) -> tuple[float, int, dict[str, float]]:
        """Mean loss and accuracy of ``weights`` on the eval data: ``(loss, n, {"accuracy"})``.

        Warnings
        --------
        These figures are *not* differentially private; send them only where the silo's
        policy allows (see ``docs/privacy.md``).
        """
        self._module.load_state_dict(self._checked_state(weights))
        x, y = self._eval
        self._module.eval()
        with torch.no_grad():
            out = self._module(x)
            loss = float(_loss(out, y, "mean"))
            pred = (out.squeeze(-1) > 0).long() if out.shape[-1] == 1 else out.argmax(-1)
            accuracy = float((pred == y).double().mean())
        return loss, int(x.shape[0]), {"accuracy": accuracy}


def _torch_uniform(n: int) -> npt.NDArray[np.float64]:
    return torch.rand(n, dtype=torch.float64).numpy()


def _tensors(x: npt.ArrayLike, y: npt.ArrayLike, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    xa, ya = np.asarray(x, dtype=np.float32), np.asarray(y)
    if xa.ndim != 2 or ya.ndim != 1 or xa.shape[0] != ya.shape[0] or xa.shape[0] == 0:
        raise ConfigError(f"{what}: need x of shape (n, d) and y of shape (n,), n >= 1")
    if not np.all(np.isfinite(xa)) or not np.issubdtype(ya.dtype, np.integer):
        raise ConfigError(f"{what}: x must be finite and y integer labels")
    return torch.from_numpy(np.ascontiguousarray(xa)), torch.from_numpy(ya.astype(np.int64))
