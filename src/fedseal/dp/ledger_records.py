"""The privacy ledger's rows as records, and the queries that read them.

One frozen dataclass per kind of row of the ledger's tables (see
:mod:`fedseal.dp.ledger_schema`): the fixed :class:`LedgerSettings`, a :class:`RoundRecord` per
round that counts towards ε, a :class:`Refusal` per round the budget guard refused, and a
:class:`BudgetChange` per change of the ε budget. The ``read_*`` functions run the ``SELECT``
behind each of :class:`~fedseal.dp.ledger.PrivacyLedger`'s read methods, oldest row first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from fedseal.dp.ledger_schema import has_budget_changes_table, has_relation
from fedseal.errors import ConfigError

__all__ = [
    "BudgetChange",
    "LedgerSettings",
    "Refusal",
    "RoundRecord",
    "read_budget_changes",
    "read_refusals",
    "read_released",
    "read_rounds",
    "read_settings",
]

_ROUND_COLUMNS = (
    "round, time_utc, status, steps, sample_rate, noise_multiplier, max_grad_norm, delta, "
    "accountant, epsilon, id"
)


@dataclass(frozen=True)
class LedgerSettings:
    """The silo's fixed settings, written when the ledger is created."""

    silo: str
    delta: float
    accountant: str
    epsilon_budget: float
    relation: str = "add_remove"


@dataclass(frozen=True)
class RoundRecord:
    """One round that counts towards ε (``status`` is ``"done"`` or ``"begun"``)."""

    round: int
    time_utc: str
    status: str
    steps: int
    sample_rate: float
    noise_multiplier: float
    max_grad_norm: float
    delta: float
    accountant: str
    epsilon: float
    row_id: int


@dataclass(frozen=True)
class Refusal:
    """A round the budget guard refused."""

    round: int
    time_utc: str
    epsilon_would_be: float
    epsilon_budget: float


@dataclass(frozen=True)
class BudgetChange:
    """One change of the ε budget; ``audited_utc`` is None until the audit log has it."""

    row_id: int
    time_utc: str
    old_budget: float
    new_budget: float
    audited_utc: str | None

    @property
    def increase(self) -> bool:
        """Whether the budget was raised (which needed ``allow_budget_increase``)."""
        return self.new_budget > self.old_budget


def read_settings(conn: sqlite3.Connection, path: Path) -> LedgerSettings:
    """The settings row (a ledger without the ``relation`` column is all add/remove).

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to the ledger.
    path : pathlib.Path
        The ledger file (for messages).

    Returns
    -------
    LedgerSettings
        The silo's fixed settings and current budget.

    Raises
    ------
    ConfigError
        If the ledger has no settings row.
    """
    relation = "relation" if has_relation(conn) else "'add_remove'"
    row = conn.execute(
        f"SELECT silo, delta, accountant, epsilon_budget, {relation} FROM settings WHERE id = 1"  # noqa: S608
    ).fetchone()
    if row is None:
        raise ConfigError(f"privacy ledger {path} has no settings row")
    return LedgerSettings(str(row[0]), float(row[1]), str(row[2]), float(row[3]), str(row[4]))


def read_rounds(conn: sqlite3.Connection) -> list[RoundRecord]:
    """Every round that counts towards ε (``begun`` and ``done``), oldest first."""
    rows = conn.execute(f"SELECT {_ROUND_COLUMNS} FROM rounds ORDER BY id").fetchall()  # noqa: S608
    return [
        RoundRecord(
            int(r[0]),
            str(r[1]),
            str(r[2]),
            int(r[3]),
            float(r[4]),
            float(r[5]),
            float(r[6]),
            float(r[7]),
            str(r[8]),
            float(r[9]),
            int(r[10]),
        )
        for r in rows
    ]


def read_refusals(conn: sqlite3.Connection) -> list[Refusal]:
    """Every refused round, oldest first."""
    rows = conn.execute(
        "SELECT round, time_utc, epsilon_would_be, epsilon_budget FROM refusals ORDER BY id"
    ).fetchall()
    return [Refusal(int(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]


def read_budget_changes(conn: sqlite3.Connection) -> list[BudgetChange]:
    """Every change of the ε budget after creation, oldest first (none in older ledgers)."""
    if not has_budget_changes_table(conn):
        return []
    rows = conn.execute(
        "SELECT id, time_utc, old_budget, new_budget, audited_utc FROM budget_changes ORDER BY id"
    ).fetchall()
    return [
        BudgetChange(
            int(r[0]), str(r[1]), float(r[2]), float(r[3]), None if r[4] is None else str(r[4])
        )
        for r in rows
    ]


def read_released(conn: sqlite3.Connection) -> set[int]:
    """Round ids whose aggregate this silo saw released (empty for an older ledger)."""
    try:
        rows = conn.execute("SELECT round FROM released").fetchall()
    except sqlite3.OperationalError:  # a ledger made before the table existed, read-only
        return set()
    return {int(r[0]) for r in rows}
