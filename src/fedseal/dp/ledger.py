"""The per-silo privacy ledger: every noisy round this silo ever ran, in SQLite.

The ledger is the accountant's memory. Its file, ``privacy-ledger.sqlite3`` in the silo's state
directory, holds four tables:

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
``budget_changes``
    Every change of the ε budget after creation: UTC time, old and new budget, and when the
    silo runner wrote it to the audit log (NULL until then). Lowering is always allowed;
    raising needs ``DPConfig(allow_budget_increase=True)``. The settings update and its row are
    one transaction. Ledgers of earlier versions gain the (empty) table when next opened.

Crash rule (conservative). A round is written in two committed transactions. Before the first
noise draw, a ``begun`` row with the *planned* steps, q and σ is committed; after training, the
row is marked ``done``. When the accountant is rebuilt, ``begun`` rows count exactly like
``done`` rows, with their planned steps, so a round that trained (even partly) always counts,
and a round killed before its ``begun`` row committed drew no noise and did not happen. The
database runs in WAL mode with ``synchronous=FULL``, so a committed row survives ``kill -9`` and
power loss, and an uncommitted one leaves no trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fedseal.dp.config import DPConfig
from fedseal.errors import ConfigError

__all__ = [
    "LEDGER_FILENAME",
    "BudgetChange",
    "LedgerSettings",
    "PrivacyLedger",
    "Refusal",
    "RoundRecord",
]

LEDGER_FILENAME = "privacy-ledger.sqlite3"

_SCHEMA = """
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _has_relation(conn: sqlite3.Connection) -> bool:
    return any(r[1] == "relation" for r in conn.execute("PRAGMA table_info(settings)"))


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


class PrivacyLedger:
    """A silo's privacy ledger: :meth:`open` (training), :meth:`read` (reports), :meth:`attach`.

    Parameters are private; use the class methods. The connection is in autocommit mode and
    every write is its own transaction (or part of :meth:`exclusive`).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._in_txn = False
        relation = "relation" if _has_relation(conn) else "'add_remove'"
        row = conn.execute(
            f"SELECT silo, delta, accountant, epsilon_budget, {relation} FROM settings WHERE id = 1"  # noqa: S608
        ).fetchone()
        if row is None:
            raise ConfigError(f"privacy ledger {path} has no settings row")
        self.settings = LedgerSettings(
            str(row[0]), float(row[1]), str(row[2]), float(row[3]), str(row[4])
        )

    @classmethod
    def open(
        cls,
        state_dir: str | Path,
        *,
        silo: str,
        config: DPConfig,
        clock: Callable[[], datetime] | None = None,
    ) -> PrivacyLedger:
        """Open or create ``state_dir/privacy-ledger.sqlite3`` for ``silo`` under ``config``.

        A changed ``config.epsilon_budget`` replaces the stored one (the newest applies) and is
        recorded as a ``budget_changes`` row in the same transaction.

        Raises
        ------
        ConfigError
            If the existing ledger belongs to another silo or was created with another δ,
            accountant or neighbouring relation, or if ``config`` raises the budget without
            ``allow_budget_increase``.
            Nothing is changed then.
        """
        if not silo:
            raise ConfigError("silo must be a non-empty name")
        path = Path(state_dir) / LEDGER_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        clock = clock or _utc_now
        conn.executescript(_SCHEMA)  # idempotent; before BEGIN, as executescript may COMMIT
        if not _has_relation(conn):  # a ledger of an earlier version: all add/remove
            conn.execute(
                "ALTER TABLE settings ADD COLUMN relation TEXT NOT NULL DEFAULT 'add_remove'"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT silo, delta, accountant, relation, epsilon_budget FROM settings "
                "WHERE id = 1"
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
            else:
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
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise
        return cls(conn, path, clock)

    @classmethod
    def read(cls, path: str | Path) -> PrivacyLedger:
        """Open an existing ledger file read-only (for reports). Writes will fail."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no privacy ledger at {path}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        return cls(conn, path, _utc_now)

    @classmethod
    def attach(
        cls, path: str | Path, *, clock: Callable[[], datetime] | None = None
    ) -> PrivacyLedger:
        """Open an existing ledger file read-write, without checking or changing its settings.

        For bookkeeping beside the process that opened it with :meth:`open`: the silo runner
        uses it to mark budget changes audited. Never train through it (it skips :meth:`open`'s
        checks of silo, δ and accountant).
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no privacy ledger at {path}")
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA synchronous=FULL")
        try:
            return cls(conn, path, clock or _utc_now)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> PrivacyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def exclusive(self) -> Iterator[PrivacyLedger]:
        """One write transaction (``BEGIN IMMEDIATE``): commit on success, roll back on error.

        Reads inside it see a snapshot no other process can change before the commit, which is
        what makes the budget check and the ``begun`` row one atomic step.
        """
        if self._in_txn:
            raise ConfigError("privacy ledger transactions do not nest")
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_txn = True
        try:
            yield self
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._in_txn = False

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self._in_txn:
            yield
        else:
            with self.exclusive():
                yield

    def rounds(self) -> list[RoundRecord]:
        """Every round that counts towards ε (``begun`` and ``done``), oldest first."""
        rows = self._conn.execute(f"SELECT {_ROUND_COLUMNS} FROM rounds ORDER BY id").fetchall()  # noqa: S608
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

    def refusals(self) -> list[Refusal]:
        """Every refused round, oldest first."""
        rows = self._conn.execute(
            "SELECT round, time_utc, epsilon_would_be, epsilon_budget FROM refusals ORDER BY id"
        ).fetchall()
        return [Refusal(int(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]

    def _has_budget_changes_table(self) -> bool:
        # Ledgers of earlier versions opened with read()/attach() may lack the table.
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'budget_changes'"
        ).fetchone()
        return row is not None

    def budget_changes(self) -> list[BudgetChange]:
        """Every change of the ε budget after the ledger was created, oldest first."""
        if not self._has_budget_changes_table():
            return []
        rows = self._conn.execute(
            "SELECT id, time_utc, old_budget, new_budget, audited_utc FROM budget_changes "
            "ORDER BY id"
        ).fetchall()
        return [
            BudgetChange(
                int(r[0]), str(r[1]), float(r[2]), float(r[3]), None if r[4] is None else str(r[4])
            )
            for r in rows
        ]

    def mark_budget_changes_audited(self, upto_id: int) -> None:
        """Record that every budget change with ``row_id <= upto_id`` is in the audit log.

        Call it after the audit entry is durable: a crash in between audits the change twice
        at the next start, never not at all.
        """
        if not self._has_budget_changes_table():
            return
        with self._write():
            self._conn.execute(
                "UPDATE budget_changes SET audited_utc = ? WHERE id <= ? AND audited_utc IS NULL",
                (self._clock().isoformat(), upto_id),
            )

    def begin_round(
        self,
        *,
        round_id: int,
        steps: int,
        sample_rate: float,
        noise_multiplier: float,
        max_grad_norm: float,
        epsilon: float,
    ) -> int:
        """Commit a ``begun`` row (call before drawing any noise) and return its row id."""
        with self._write():
            cur = self._conn.execute(
                "INSERT INTO rounds (round, time_utc, status, steps, sample_rate, "
                "noise_multiplier, max_grad_norm, delta, accountant, epsilon) "
                "VALUES (?, ?, 'begun', ?, ?, ?, ?, ?, ?, ?)",
                (
                    round_id,
                    self._clock().isoformat(),
                    steps,
                    sample_rate,
                    noise_multiplier,
                    max_grad_norm,
                    self.settings.delta,
                    self.settings.accountant,
                    epsilon,
                ),
            )
            row_id = cur.lastrowid
        if row_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise ConfigError("privacy ledger did not return a row id")
        return row_id

    def finish_round(self, row_id: int) -> None:
        """Mark a ``begun`` row ``done`` (it counted already; this records that it finished)."""
        with self._write():
            self._conn.execute(
                "UPDATE rounds SET status = 'done', finished_utc = ? WHERE id = ?",
                (self._clock().isoformat(), row_id),
            )

    def mark_released(self, round_id: int) -> bool:
        """Record that the aggregate of ``round_id`` was released (the server attested it).

        Only a round this silo trained in is marked; returns whether one was. It changes no ε:
        every round counts in full whatever its fate. It tells the report which rounds ended
        in a released aggregate and which were sent but aborted.
        """
        with self._write():
            if (
                self._conn.execute(
                    "SELECT 1 FROM rounds WHERE round = ? AND status = 'done'", (round_id,)
                ).fetchone()
                is None
            ):
                return False
            self._conn.execute(
                "INSERT OR IGNORE INTO released (round, time_utc) VALUES (?, ?)",
                (round_id, self._clock().isoformat()),
            )
        return True

    def released_rounds(self) -> set[int]:
        """Round ids whose aggregate this silo saw released (empty for an older ledger)."""
        try:
            rows = self._conn.execute("SELECT round FROM released").fetchall()
        except sqlite3.OperationalError:  # a ledger made before the table existed, read-only
            return set()
        return {int(r[0]) for r in rows}

    def record_refusal(self, *, round_id: int, epsilon_would_be: float) -> None:
        """Record that ``round_id`` was refused: ε would have reached ``epsilon_would_be``."""
        with self._write():
            self._conn.execute(
                "INSERT INTO refusals (round, time_utc, epsilon_would_be, epsilon_budget) "
                "VALUES (?, ?, ?, ?)",
                (
                    round_id,
                    self._clock().isoformat(),
                    epsilon_would_be,
                    self.settings.epsilon_budget,
                ),
            )

    def __repr__(self) -> str:
        return f"PrivacyLedger({str(self.path)!r}, silo={self.settings.silo!r})"
