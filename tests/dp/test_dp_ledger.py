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


def test_budget_change_is_stored(tmp_path: Path) -> None:
    PrivacyLedger.open(tmp_path, silo="h1", config=CONFIG).close()
    lower = DPConfig(epsilon_budget=4.0, noise_multiplier=1.5)
    with PrivacyLedger.open(tmp_path, silo="h1", config=lower) as ledger:
        assert ledger.settings.epsilon_budget == 4.0


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
