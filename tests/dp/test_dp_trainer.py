"""PrivateTrainer: fit/evaluate, ε over the whole deployment, the guard, misuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dp_helpers import seeded_key_source

from fedseal.dp import DPConfig, PrivacyLedger, PrivateTrainer
from fedseal.dp.accounting import epsilon
from fedseal.dp.noise import SecureRandom
from fedseal.errors import ConfigError, PrivacyBudgetExceeded, ProtocolViolation


class CountingRandom(SecureRandom):
    def __init__(self) -> None:
        super().__init__(seeded_key_source(b"counting"))
        self.calls = 0

    def random_bytes(self, n: int) -> bytes:
        self.calls += 1
        return super().random_bytes(n)


def test_fit_returns_weights_n_and_public_metrics(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer()
    w0 = trainer.get_weights()
    weights, n, metrics = trainer.fit(w0, 0, {})
    assert n == 200
    assert [w.shape for w in weights] == [(2, 30), (2,)]
    assert not np.allclose(weights[0], w0[0])
    assert set(metrics) == {
        "epsilon",
        "epsilon_budget",
        "delta",
        "noise_multiplier",
        "sample_rate",
        "steps",
    }
    assert metrics["epsilon"] == pytest.approx(
        epsilon([(1.2, 0.1, 5)], delta=1e-5, accountant="rdp")
    )
    assert trainer.ledger.rounds()[0].status == "done"


def test_epsilon_covers_every_round_and_survives_restart(
    tmp_path: Path, make_trainer: Callable[..., Any]
) -> None:
    trainer = make_trainer(tmp_path / "s")
    w = trainer.get_weights()
    eps = []
    for r in range(3):
        w, _, m = trainer.fit(w, r, {})
        eps.append(m["epsilon"])
    trainer.ledger.close()
    restarted = make_trainer(tmp_path / "s")  # new process, new engine, same ledger
    assert restarted.epsilon == pytest.approx(eps[-1])
    _, _, m = restarted.fit(w, 3, {})
    eps.append(m["epsilon"])
    assert eps == sorted(eps) and len(set(eps)) == 4
    assert eps[-1] == pytest.approx(epsilon([(1.2, 0.1, 20)], delta=1e-5, accountant="rdp"))


def test_guard_refuses_before_any_noise(make_trainer: Callable[..., Any]) -> None:
    rng = CountingRandom()
    trainer = make_trainer(epsilon_budget=0.5, rng=rng, steps_per_round=50)
    calls = rng.calls
    w0 = trainer.get_weights()
    with pytest.raises(PrivacyBudgetExceeded, match=r"epsilon would reach .* > budget 0.5"):
        trainer.fit(w0, 7, {})
    assert rng.calls == calls  # no sampling coin, no noise
    assert trainer.ledger.rounds() == []
    assert [r.round for r in trainer.ledger.refusals()] == [7]
    assert all(np.array_equal(a, b) for a, b in zip(trainer.get_weights(), w0, strict=True))


def test_guard_stops_exactly_at_the_budget(make_trainer: Callable[..., Any]) -> None:
    one_round = epsilon([(1.2, 0.1, 5)], delta=1e-5, accountant="rdp")
    two_rounds = epsilon([(1.2, 0.1, 10)], delta=1e-5, accountant="rdp")
    trainer = make_trainer(epsilon_budget=(one_round + two_rounds) / 2)
    w = trainer.get_weights()
    w, _, _ = trainer.fit(w, 0, {})
    with pytest.raises(PrivacyBudgetExceeded):
        trainer.fit(w, 1, {})
    assert trainer.epsilon == pytest.approx(one_round)
    assert trainer.epsilon <= trainer.ledger.settings.epsilon_budget


def test_target_epsilon_plan_ends_under_budget(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer(
        noise_multiplier=None, target_epsilon=3.0, planned_rounds=3, epsilon_budget=3.0
    )
    w = trainer.get_weights()
    for r in range(3):
        w, _, m = trainer.fit(w, r, {})
    assert 2.9 < m["epsilon"] <= 3.0
    with pytest.raises(PrivacyBudgetExceeded):
        trainer.fit(w, 3, {})


def test_rounds_affordable_matches_the_guard(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer(epsilon_budget=3.0)
    plan = trainer.privacy_plan()
    assert plan.rounds >= 2 and plan.epsilon_spent == 0.0 and plan.epsilon_budget == 3.0
    assert (plan.noise_multiplier, plan.sample_rate, plan.steps_per_round) == (1.2, 0.1, 5)
    w = trainer.get_weights()
    for r in range(plan.rounds):
        assert trainer.rounds_affordable() == plan.rounds - r
        w, _, _ = trainer.fit(w, r, {})
    assert trainer.rounds_affordable() == 0
    with pytest.raises(PrivacyBudgetExceeded):
        trainer.fit(w, plan.rounds, {})


def test_rounds_affordable_with_target_epsilon_is_the_plan(
    make_trainer: Callable[..., Any],
) -> None:
    trainer = make_trainer(
        noise_multiplier=None, target_epsilon=3.0, planned_rounds=3, epsilon_budget=3.0
    )
    assert trainer.rounds_affordable() == 3


def test_rounds_affordable_after_restart_limit_and_lowered_budget(
    tmp_path: Path, make_trainer: Callable[..., Any]
) -> None:
    trainer = make_trainer(tmp_path / "s", epsilon_budget=1000.0)
    trainer.fit(trainer.get_weights(), 0, {})
    assert trainer.rounds_affordable(limit=50) == 50  # "at least 50"
    spent = trainer.epsilon
    trainer.ledger.close()
    lowered = make_trainer(tmp_path / "s", epsilon_budget=spent / 2)  # below what is spent
    plan = lowered.privacy_plan()
    assert plan.rounds == 0 and plan.epsilon_spent == pytest.approx(spent)


def test_demo_model_learns_breast_cancer(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer(n=569, batch_size=32, steps_per_round=30, noise_multiplier=1.0)
    w = trainer.get_weights()
    for r in range(3):
        w, _, _ = trainer.fit(w, r, {"lr": 0.5})
    loss, n, metrics = trainer.evaluate(w)
    assert n == 569 and loss < 0.4
    assert metrics["accuracy"] > 0.9


def test_single_logit_model_and_local_epochs(
    tmp_path: Path, cancer: tuple[np.ndarray, np.ndarray]
) -> None:
    config = DPConfig(epsilon_budget=50.0, noise_multiplier=1.0)
    ledger = PrivacyLedger.open(tmp_path, silo="a", config=config)
    x, y = cancer
    trainer = PrivateTrainer(
        torch.nn.Linear(30, 1),
        x,
        y,
        config=config,
        ledger=ledger,
        batch_size=57,
        local_epochs=1,
        eval_data=(x[:100], y[:100]),
    )
    assert trainer.steps_per_round == 10  # ceil(1 / q), q = 57 / 569
    w, _, _ = trainer.fit(trainer.get_weights(), 0, {})
    loss, n, metrics = trainer.evaluate(w)
    assert n == 100 and 0.0 <= metrics["accuracy"] <= 1.0 and np.isfinite(loss)


def test_insecure_mode_is_explicit_opt_in(make_trainer: Callable[..., Any]) -> None:
    from fedseal.dp.optimizer import SecureDPOptimizer

    assert isinstance(make_trainer(silo="s")._optimizer, SecureDPOptimizer)
    insecure = make_trainer(silo="i", secure_rng=False)
    assert not isinstance(insecure._optimizer, SecureDPOptimizer)
    insecure.fit(insecure.get_weights(), 0, {})


def test_bad_weights_are_refused_before_the_guard(make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer()
    w = trainer.get_weights()
    with pytest.raises(ProtocolViolation, match="weight arrays"):
        trainer.fit(w[:1], 0, {})
    with pytest.raises(ProtocolViolation, match="shape"):
        trainer.fit([w[0].T, w[1]], 0, {})
    with pytest.raises(ProtocolViolation, match="lr"):
        trainer.fit(w, 0, {"lr": -1.0})
    assert trainer.ledger.rounds() == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 500}, "sample_rate"),
        ({"steps_per_round": 0}, "steps_per_round"),
        ({"local_epochs": 1}, "exactly one"),
        ({"learning_rate": -1.0}, "learning_rate"),
    ],
)
def test_bad_trainer_settings(
    make_trainer: Callable[..., Any], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        make_trainer(**kwargs)


def test_batchnorm_and_ledger_mismatch_refused(
    tmp_path: Path, cancer: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = cancer
    config = DPConfig(epsilon_budget=8.0, noise_multiplier=1.0)
    ledger = PrivacyLedger.open(tmp_path, silo="a", config=config)
    bn = torch.nn.Sequential(torch.nn.BatchNorm1d(30), torch.nn.Linear(30, 2))
    with pytest.raises(ConfigError, match="DP-SGD compatible"):
        PrivateTrainer(bn, x, y, config=config, ledger=ledger, batch_size=10, steps_per_round=1)
    other = DPConfig(epsilon_budget=8.0, noise_multiplier=1.0, delta=1e-6)
    with pytest.raises(ConfigError, match="match the ledger"):
        PrivateTrainer(
            torch.nn.Linear(30, 2),
            x,
            y,
            config=other,
            ledger=ledger,
            batch_size=10,
            steps_per_round=1,
        )
    with pytest.raises(ConfigError, match="training data"):
        PrivateTrainer(
            torch.nn.Linear(30, 2),
            x,
            y[:5],
            config=config,
            ledger=ledger,
            batch_size=10,
            steps_per_round=1,
        )


def test_a_declared_sample_rate_does_not_follow_the_record_count(
    make_trainer: Callable[..., Any],
) -> None:
    # Issue 11: q = batch_size / n would change with n (and the report would state it);
    # declared for the deployment, it is the same whatever the silo holds.
    small = make_trainer(n=100, silo="s", sample_rate=0.25)
    large = make_trainer(n=300, silo="l", sample_rate=0.25)
    assert small.sample_rate == large.sample_rate == 0.25
    assert make_trainer(n=100, silo="d").sample_rate == 20 / 100  # not declared: B / n


def test_fedprox_term_pulls_towards_the_global_model_at_the_same_epsilon(
    tmp_path: Path, make_trainer: Callable[..., Any]
) -> None:
    from fedseal.errors import ProtocolViolation

    moved = {}
    for mu in (0.0, 1.0):  # lr 0.5 * mu 1 < 2: the proximal step contracts
        trainer = make_trainer(tmp_path / f"mu{mu}", seed=b"same")
        w0 = trainer.get_weights()
        weights, _, metrics = trainer.fit(w0, 1, {"proximal_mu": mu})
        moved[mu] = sum(float(np.linalg.norm(a - b)) for a, b in zip(weights, w0, strict=True))
        moved[f"eps{mu}"] = metrics["epsilon"]
        trainer.ledger.close()
    assert 0 < moved[1.0] < moved[0.0]
    assert moved["eps1.0"] == moved["eps0.0"]  # a data-independent term costs no ε
    trainer = make_trainer(tmp_path / "bad")
    with pytest.raises(ProtocolViolation, match="proximal_mu"):
        trainer.fit(trainer.get_weights(), 1, {"proximal_mu": -1.0})
    assert trainer.ledger.rounds() == []  # refused before the budget guard: nothing spent
