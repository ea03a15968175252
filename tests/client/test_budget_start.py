"""At silo start: budget changes are audited once, the privacy plan is logged and audited, and a
silo whose remaining budget fits no round refuses to start (``fedseal.client.budget``)."""

from __future__ import annotations

import logging
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fedseal.audit import events as ev
from fedseal.audit.export import read_entries
from fedseal.audit.log import AuditLog
from fedseal.cli import main
from fedseal.client.budget import audit_budget_changes, check_privacy_plan
from fedseal.deploy.files import dumps_toml
from fedseal.deploy.provision import provision
from fedseal.dp import LEDGER_FILENAME, DPConfig, PrivacyLedger, PrivateTrainer
from fedseal.dp.guard import PrivacyPlan
from fedseal.errors import ConfigError


def _config(budget: float, **kw: Any) -> DPConfig:
    return DPConfig(epsilon_budget=budget, noise_multiplier=1.2, **kw)


def _trainer(state: Path, budget: float) -> PrivateTrainer:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    config = _config(budget)
    ledger = PrivacyLedger.open(state, silo="silo-a", config=config)
    return PrivateTrainer(
        lambda: torch.nn.Linear(3, 2), x, y, config=config, ledger=ledger,
        batch_size=20, steps_per_round=5,
    )  # fmt: skip


class _App:
    def __init__(self, plan: Any) -> None:
        self._plan = plan

    def privacy_plan(self) -> Any:
        return self._plan() if callable(self._plan) else self._plan


def _entries(path: Path) -> list[Any]:
    entries, skipped = read_entries(path)
    assert skipped == 0
    return entries


def test_budget_changes_are_audited_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert audit_budget_changes(None, silo="silo-a", state_dir=state) == 0
    for config in (_config(8.0), _config(5.0), _config(6.0, allow_budget_increase=True)):
        PrivacyLedger.open(state, silo="silo-a", config=config).close()
    log_path = tmp_path / "audit.jsonl"
    with AuditLog(log_path, party="silo-a") as audit:
        assert audit_budget_changes(audit, silo="silo-a", state_dir=tmp_path / "none") == 0
        assert audit_budget_changes(audit, silo="silo-a", state_dir=state) == 2
        assert audit_budget_changes(audit, silo="silo-a", state_dir=state) == 0  # restart
    changed = [e for e in _entries(log_path) if e.event == ev.CONFIG_CHANGED]
    assert [(e.details["old"], e.details["new"], e.details["increase"]) for e in changed] == [
        (8.0, 5.0, False),
        (5.0, 6.0, True),
    ]
    assert {e.details["setting"] for e in changed} == {"epsilon_budget"}
    with PrivacyLedger.read(state / LEDGER_FILENAME) as view:
        assert all(c.audited_utc is not None for c in view.budget_changes())


def test_plan_is_logged_and_audited(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    trainer = _trainer(tmp_path / "state", 3.0)
    log_path = tmp_path / "audit.jsonl"
    with caplog.at_level(logging.INFO), AuditLog(log_path, party="silo-a") as audit:
        plan = check_privacy_plan(_App(trainer.privacy_plan), audit=audit)
    assert plan is not None and plan.rounds == trainer.rounds_affordable() >= 2
    assert f"privacy budget allows {plan.rounds} more rounds at sigma=1.2, q=0.1" in caplog.text
    (entry,) = [e for e in _entries(log_path) if e.event == ev.DP_PLAN]
    assert entry.outcome == ev.SUCCESS and entry.details["rounds_affordable"] == plan.rounds
    assert entry.details["epsilon_budget"] == 3.0 and entry.details["steps"] == 5


def test_no_round_fits_refuses_start(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "state", 0.1)  # one round of 5 steps costs more
    log_path = tmp_path / "audit.jsonl"
    refused = r"does not allow a single round at sigma=1.2, q=0.1"
    with (
        AuditLog(log_path, party="silo-a") as audit,
        pytest.raises(ConfigError, match=refused) as info,
    ):
        check_privacy_plan(_App(trainer.privacy_plan), audit=audit)
    assert "allow_budget_increase" in str(info.value) and "new deployment" in str(info.value)
    (entry,) = [e for e in _entries(log_path) if e.event == ev.DP_PLAN]
    assert entry.outcome == ev.REFUSED and entry.details["rounds_affordable"] == 0


def test_apps_without_a_plan_need_nothing() -> None:
    assert check_privacy_plan(object(), audit=None) is None  # type: ignore[arg-type]
    assert check_privacy_plan(_App(None), audit=None) is None  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="PrivacyPlan or None"):
        check_privacy_plan(_App(3), audit=None)  # type: ignore[arg-type]
    plan = PrivacyPlan("s", 4, 10, 1.0, 0.1, 5, 1.0, 8.0, 1e-5, "rdp")
    assert check_privacy_plan(_App(plan), audit=None) is plan  # type: ignore[arg-type]


_APP = """
import numpy as np
import torch

from fedseal.dp import PrivacyLedger, PrivateTrainer


class App:
    def __init__(self, context):
        ledger = PrivacyLedger.open(context.state_dir, silo=context.silo, config=context.dp)
        x = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
        self.trainer = PrivateTrainer(
            lambda: torch.nn.Linear(3, 2), x, (x[:, 0] > 0).astype(np.int64),
            config=context.dp, ledger=ledger, batch_size=20, steps_per_round=5,
        )

    def get_weights(self):
        return np.zeros(8)

    def fit(self, weights, config):
        raise AssertionError("a silo that cannot afford a round must not start")

    def evaluate(self, weights, config):
        raise AssertionError("a silo that cannot afford a round must not start")

    def privacy_plan(self):
        return self.trainer.privacy_plan()


def make(context):
    return App(context)
"""


def test_fedseal_client_exits_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dep = provision(deployment="budget", silos=["alpha", "beta"], out=tmp_path / "dep")
    path = dep.silo_configs["alpha"]
    doc = tomllib.loads(path.read_text())
    doc["dp"] = {"epsilon_budget": 0.1, "noise_multiplier": 1.2}
    path.write_text(dumps_toml(doc))
    state = path.parent / doc.get("state_dir", "state")
    PrivacyLedger.open(state, silo="alpha", config=_config(8.0)).close()  # started at 8 before
    (tmp_path / "budget_start_app.py").write_text(textwrap.dedent(_APP))
    monkeypatch.syspath_prepend(str(tmp_path))

    status = main(["client", "--config", str(path), "--app", "budget_start_app:make"])

    assert status == 2
    err = capsys.readouterr().err
    assert "fedseal: error: silo 'alpha': the remaining privacy budget does not allow" in err
    audit_path = path.parent / doc.get("audit_log", "audit.jsonl")
    events = [(e.event, e.outcome) for e in _entries(audit_path)]
    assert (ev.CONFIG_CHANGED, ev.SUCCESS) in events  # 8 -> 0.1, recorded by the app's ledger
    assert events[-1] == (ev.DP_PLAN, ev.REFUSED)
