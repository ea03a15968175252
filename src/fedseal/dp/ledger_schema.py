"""The privacy ledger's file: its SQLite schema, migrations from earlier versions, and settings.

The ledger's file, ``privacy-ledger.sqlite3`` (:data:`LEDGER_FILENAME`) in the silo's state
directory, holds these tables (:data:`SCHEMA`):

``settings``
    One row fixed at creation: silo name, δ, accountant, ε budget, neighbouring relation.
    Reopening with another δ, accountant or relation is refused: ε values computed under
    different ones do not compose. (Ledgers of earlier versions, which had no relation column,
    were all add/remove and gain the column with that value.)
    The budget is the only setting that may change, and only through a ``budget_changes`` row.
``rounds``
    One row per round that may have drawn noise: round id, UTC time, steps, sample rate q,
    noise multiplier σ, clipping norm C, δ, accountant, ε after the round, and a status.
``refusals``
    Rounds the budget guard refused: round id, UTC time, ε it would have reached, budget.
``released``
    Rounds whose aggregate this silo saw released.
``budget_changes``
    Every change of the ε budget after creation: UTC time, old and new budget, and when the
    silo runner wrote it to the audit log (NULL until then). Lowering is always allowed;
    raising needs ``DPConfig(allow_budget_increase=True)``. The settings update and its row are
    one transaction. Ledgers of earlier versions gain the (empty) table when next opened.

The database runs in WAL mode with ``synchronous=FULL`` (:func:`connect_for_writing`), so a
committed row survives ``kill -9`` and power loss, and an uncommitted one leaves no trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fedseal.dp.config import DPConfig
from fedseal.errors import ConfigError

__all__ = [
    "LEDGER_FILENAME",
    "SCHEMA",
    "connect_for_writing",
    "has_budget_changes_table",
    "has_relation",
    "migrate",
    "write_settings",
]

LEDGER_FILENAME = "privacy-ledger.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    silo TEXT NOT NULL, delta REAL NOT NULL, accountant TEXT NOT NULL,
    epsilon_budget REAL NOT NULL, created_utc TEXT NOT NULL,
    relation TEXT NOT NULL DEFAULT 'add_remove');
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL, time_utc TEXT NOT NULL, finished_utc TEXT,
    status TEXT NOT NULL CHECK (status IN ('begun', 'done')),
    steps INTEGER NOT NULL CHECK (steps >= 0),
    sample_rate REAL NOT NULL, noise_multiplier REAL NOT NULL, max_grad_norm REAL NOT NULL,
    delta REAL NOT NULL, accountant TEXT NOT NULL, epsilon REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL, time_utc TEXT NOT NULL,
    epsilon_would_be REAL NOT NULL, epsilon_budget REAL NOT NULL);
CREATE TABLE IF NOT EXISTS released (
    round INTEGER PRIMARY KEY, time_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS budget_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_utc TEXT NOT NULL, old_budget REAL NOT NULL, new_budget REAL NOT NULL,
    audited_utc TEXT);
"""


def has_relation(conn: sqlite3.Connection) -> bool:
    """Whether the ``settings`` table has the ``relation`` column (earlier versions had not)."""
    return any(r[1] == "relation" for r in conn.execute("PRAGMA table_info(settings)"))


def has_budget_changes_table(conn: sqlite3.Connection) -> bool:
    """Whether the ledger has the ``budget_changes`` table.

    Ledgers of earlier versions opened without :func:`migrate` (read-only, or attached) may
    lack it.
    """
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'budget_changes'"
    ).fetchone()
    return row is not None


def connect_for_writing(path: Path) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode, WAL journal, ``synchronous=FULL``.

    Parameters
    ----------
    path : pathlib.Path
        The ledger file; created if missing.

    Returns
    -------
    sqlite3.Connection
        The connection; every statement is its own transaction unless one is begun.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Create the missing tables and columns: a new ledger, or one of an earlier version.

    Idempotent. Run it before ``BEGIN``, as ``executescript`` may ``COMMIT``.
    """
    conn.executescript(SCHEMA)
    if not has_relation(conn):  # a ledger of an earlier version: all add/remove
        conn.execute("ALTER TABLE settings ADD COLUMN relation TEXT NOT NULL DEFAULT 'add_remove'")


def _change_budget(
    conn: sqlite3.Connection,
    path: Path,
    old: float,
    config: DPConfig,
    clock: Callable[[], datetime],
) -> None:
    """Inside ``open``'s transaction: apply and record a changed budget, or refuse a raise."""
    new = config.epsilon_budget
    if new == old:
        return
    if new > old and not config.allow_budget_increase:
        raise ConfigError(
            f"privacy ledger {path} has epsilon_budget={old:g}; refusing to raise it to {new:g} "
            "without allow_budget_increase (set allow_budget_increase = true in silo.toml [dp] "
            "or DPConfig(allow_budget_increase=True) for this start; the raise is then recorded "
            "in the ledger, audited and shown in the privacy report)"
        )
    conn.execute("UPDATE settings SET epsilon_budget = ? WHERE id = 1", (new,))
    conn.execute(
        "INSERT INTO budget_changes (time_utc, old_budget, new_budget) VALUES (?, ?, ?)",
        (clock().isoformat(), old, new),
    )


def write_settings(
    conn: sqlite3.Connection,
    path: Path,
    *,
    silo: str,
    config: DPConfig,
    clock: Callable[[], datetime],
) -> None:
    """Inside the caller's write transaction: create the settings row, or check it.

    A changed ``config.epsilon_budget`` replaces the stored one (the newest applies) and is
    recorded as a ``budget_changes`` row.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to a migrated ledger, inside ``BEGIN IMMEDIATE``.
    path : pathlib.Path
        The ledger file (for messages).
    silo : str
        The silo that owns the ledger.
    config : DPConfig
        δ, accountant, neighbouring relation and ε budget to create or check.
    clock : callable
        Returns the current UTC time.

    Raises
    ------
    ConfigError
        If the ledger belongs to another silo or was created with another δ, accountant or
        neighbouring relation, or if ``config`` raises the budget without
        ``allow_budget_increase``. The caller rolls back.
    """
    row = conn.execute(
        "SELECT silo, delta, accountant, relation, epsilon_budget FROM settings WHERE id = 1"
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO settings (id, silo, delta, accountant, epsilon_budget, "
            "created_utc, relation) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (
                silo,
                config.delta,
                config.accountant,
                config.epsilon_budget,
                clock().isoformat(),
                config.neighbouring_relation,
            ),
        )
        return
    for name, stored, wanted in zip(
        ("silo", "delta", "accountant", "neighbouring_relation"),
        row[:4],
        (silo, config.delta, config.accountant, config.neighbouring_relation),
        strict=True,
    ):
        if stored != wanted:
            raise ConfigError(
                f"privacy ledger {path} was created with {name}={stored!r}; "
                f"refusing {name}={wanted!r} (ε under different {name} values "
                "does not compose)"
            )
    _change_budget(conn, path, float(row[4]), config, clock)
