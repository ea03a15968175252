"""The privacy ledger: settings are fixed, writes are transactional, begun rounds count."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fedseal.dp import LEDGER_FILENAME, DPConfig, PrivacyLedger
from fedseal.dp.accounting import spent_epsilon
from fedseal.dp.guard import reserve_round
from fedseal.errors import ConfigError, PrivacyBudgetExceeded

CONFIG = DPConfig(epsilon_budget=8.0, noise_multiplier=1.5, delta=1e-5)


def _clock() -> datetime:
    return datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _reserve(ledger: PrivacyLedger, round_id: int, steps: int = 225) -> float:
    return reserve_round(
        ledger,
        round_id=round_id,
        steps=steps,
        sample_rate=0.04,
        noise_multiplier=1.5,
        max_grad_norm=1.0,
    ).epsilon


def test_creates_file_with_settings_and_wal(tmp_path: Path) -> None:
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG, clock=_clock) as ledger:
        assert ledger.path == tmp_path / LEDGER_FILENAME
        assert ledger.settings.silo == "h1"
        assert ledger.settings.accountant == "rdp"
        assert ledger.rounds() == [] and ledger.refusals() == []
    conn = sqlite3.connect(tmp_path / LEDGER_FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize(
    ("silo", "config", "name"),
    [
        ("h1", DPConfig(epsilon_budget=8.0, noise_multiplier=1.5, delta=1e-6), "delta"),
        ("h1", DPConfig(epsilon_budget=8.0, noise_multiplier=1.5, accountant="prv"), "accountant"),
        ("h2", CONFIG, "silo"),
    ],
)
def test_reopen_with_other_fixed_settings_is_refused(
    tmp_path: Path, silo: str, config: DPConfig, name: str
) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    with pytest.raises(ConfigError, match=name):
        PrivacyLedger.open(tmp_path, silo=silo, config=config)


def test_lowering_the_budget_is_stored_and_recorded(tmp_path: Path) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    lower = DPConfig(epsilon_budget=4.0, noise_multiplier=1.5)
    with PrivacyLedger.open(tmp_path, silo="h1", config=lower, clock=_clock) as ledger:
        assert ledger.settings.epsilon_budget == 4.0
        (change,) = ledger.budget_changes()
    assert (change.old_budget, change.new_budget, change.increase) == (8.0, 4.0, False)
    assert change.time_utc == "2030-01-02T03:04:05+00:00" and change.audited_utc is None
    with PrivacyLedger.open(tmp_path, silo="h1", config=lower) as ledger:  # unchanged: no row
        assert len(ledger.budget_changes()) == 1


def test_raising_the_budget_without_the_flag_is_refused(tmp_path: Path) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    higher = DPConfig(epsilon_budget=10.0, noise_multiplier=1.5)
    with pytest.raises(ConfigError, match=r"epsilon_budget=8; refusing to raise it to 10 .*"
                       r"allow_budget_increase"):  # fmt: skip
        PrivacyLedger.open(tmp_path, silo="h1", config=higher)
    with PrivacyLedger.read(tmp_path / LEDGER_FILENAME) as view:
        assert view.settings.epsilon_budget == 8.0 and view.budget_changes() == []


def test_raising_the_budget_with_the_flag_is_recorded(tmp_path: Path) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    higher = DPConfig(epsilon_budget=10.0, noise_multiplier=1.5, allow_budget_increase=True)
    with PrivacyLedger.open(tmp_path, silo="h1", config=higher) as ledger:
        assert ledger.settings.epsilon_budget == 10.0
        (change,) = ledger.budget_changes()
    assert (change.old_budget, change.new_budget, change.increase) == (8.0, 10.0, True)
    # The flag is needed for raising only; lowering again is recorded as well.
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG) as ledger:
        assert [(c.old_budget, c.new_budget) for c in ledger.budget_changes()] == [
            (8.0, 10.0),
            (10.0, 8.0),
        ]


def test_budget_changes_are_marked_audited(tmp_path: Path) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    for budget in (6.0, 5.0):
        PrivacyLedger.open(
            tmp_path, silo="h1", config=DPConfig(epsilon_budget=budget, noise_multiplier=1.5)
        ).close()
    with PrivacyLedger.attach(tmp_path / LEDGER_FILENAME, clock=_clock) as ledger:
        first, _ = ledger.budget_changes()
        ledger.mark_budget_changes_audited(first.row_id)
        assert [c.audited_utc for c in ledger.budget_changes()] == [
            "2030-01-02T03:04:05+00:00",
            None,
        ]
    with pytest.raises(ConfigError, match="no privacy ledger"):
        PrivacyLedger.attach(tmp_path / "missing.sqlite3")


_OLD_SCHEMA = """
CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    silo TEXT NOT NULL, delta REAL NOT NULL, accountant TEXT NOT NULL,
    epsilon_budget REAL NOT NULL, created_utc TEXT NOT NULL);
CREATE TABLE rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL, time_utc TEXT NOT NULL, finished_utc TEXT,
    status TEXT NOT NULL CHECK (status IN ('begun', 'done')),
    steps INTEGER NOT NULL CHECK (steps >= 0),
    sample_rate REAL NOT NULL, noise_multiplier REAL NOT NULL, max_grad_norm REAL NOT NULL,
    delta REAL NOT NULL, accountant TEXT NOT NULL, epsilon REAL NOT NULL);
CREATE TABLE refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL, time_utc TEXT NOT NULL,
    epsilon_would_be REAL NOT NULL, epsilon_budget REAL NOT NULL);
INSERT INTO settings VALUES (1, 'h1', 1e-5, 'rdp', 8.0, '2029-01-01T00:00:00+00:00');
INSERT INTO rounds (round, time_utc, finished_utc, status, steps, sample_rate, noise_multiplier,
    max_grad_norm, delta, accountant, epsilon)
    VALUES (0, '2029-01-01T00:00:00+00:00', NULL, 'done', 225, 0.04, 1.5, 1.0, 1e-5, 'rdp', 2.0);
"""


def test_ledger_of_the_previous_version_opens(tmp_path: Path) -> None:
    """A ledger written before budget changes were recorded (no ``budget_changes`` table)."""
    conn = sqlite3.connect(tmp_path / LEDGER_FILENAME)
    conn.executescript(_OLD_SCHEMA)
    conn.close()
    with PrivacyLedger.read(tmp_path / LEDGER_FILENAME) as view:
        assert view.budget_changes() == [] and len(view.rounds()) == 1
        assert view.settings.relation == "add_remove"  # every earlier ledger was add/remove
    with PrivacyLedger.attach(tmp_path / LEDGER_FILENAME) as ledger:
        ledger.mark_budget_changes_audited(10)  # no table yet: nothing to mark
        assert ledger.budget_changes() == []
    lower = DPConfig(epsilon_budget=7.0, noise_multiplier=1.5)
    with PrivacyLedger.open(tmp_path, silo="h1", config=lower) as ledger:
        assert len(ledger.rounds()) == 1
        (change,) = ledger.budget_changes()
        assert (change.old_budget, change.new_budget) == (8.0, 7.0)
        assert ledger.settings.relation == "add_remove"
        assert _reserve(ledger, 1) > 2.0


def test_rounds_accumulate_to_the_golden_epsilon(tmp_path: Path) -> None:
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG, clock=_clock) as ledger:
        eps = [_reserve(ledger, r) for r in range(10)]
        for row in ledger.rounds():
            ledger.finish_round(row.row_id)
        assert eps == sorted(eps)
        assert eps[-1] == pytest.approx(7.32911117143, abs=1e-9)  # 10 x 225 steps = 2250
        rows = ledger.rounds()
        assert [r.status for r in rows] == ["done"] * 10
        assert rows[0].time_utc == "2030-01-02T03:04:05+00:00"
        assert spent_epsilon(rows, delta=1e-5, accountant="rdp") == pytest.approx(eps[-1])


def test_begun_rounds_count_after_reopen(tmp_path: Path) -> None:
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG) as ledger:
        first = _reserve(ledger, 0)  # never finished: a crash mid-round
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG) as ledger:
        rows = ledger.rounds()
        assert [r.status for r in rows] == ["begun"]
        assert spent_epsilon(rows, delta=1e-5, accountant="rdp") == pytest.approx(first)
        assert _reserve(ledger, 1) > first


def test_refusal_is_recorded_and_nothing_else(tmp_path: Path) -> None:
    small = DPConfig(epsilon_budget=1.0, noise_multiplier=1.5)
    with PrivacyLedger.open(tmp_path, silo="h1", config=small) as ledger:
        with pytest.raises(PrivacyBudgetExceeded, match=r"would reach \d+\.\d+ > budget 1"):
            _reserve(ledger, 5)
        assert ledger.rounds() == []
        (refusal,) = ledger.refusals()
        assert refusal.round == 5 and refusal.epsilon_budget == 1.0
        assert refusal.epsilon_would_be > 1.0


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG) as ledger:
        with pytest.raises(RuntimeError), ledger.exclusive():
            ledger.begin_round(
                round_id=0,
                steps=1,
                sample_rate=0.1,
                noise_multiplier=1.0,
                max_grad_norm=1.0,
                epsilon=0.1,
            )
            raise RuntimeError("crash inside the transaction")
        assert ledger.rounds() == []
        with pytest.raises(ConfigError, match="nest"), ledger.exclusive(), ledger.exclusive():
            pass


def test_read_only_view(tmp_path: Path) -> None:
    with PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG) as ledger:
        _reserve(ledger, 0)
        with PrivacyLedger.read(tmp_path / LEDGER_FILENAME) as view:
            assert len(view.rounds()) == 1
            with pytest.raises(sqlite3.OperationalError):
                view.record_refusal(round_id=1, epsilon_would_be=9.0)
    with pytest.raises(ConfigError, match="no privacy ledger"):
        PrivacyLedger.read(tmp_path / "missing.sqlite3")


def test_empty_silo_name_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="silo"):
        PrivacyLedger.open(tmp_path, silo="", config=CONFIG)
