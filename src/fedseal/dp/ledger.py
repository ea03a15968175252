"""The per-silo privacy ledger: every noisy round this silo ever ran, in SQLite.

The ledger is the accountant's memory. :class:`PrivacyLedger` opens it (:meth:`~PrivacyLedger.open`
for training, :meth:`~PrivacyLedger.read` for reports, :meth:`~PrivacyLedger.attach` for
bookkeeping) and writes its rows; the file's tables and their migrations are in
:mod:`fedseal.dp.ledger_schema`, the records it returns and the queries behind them in
:mod:`fedseal.dp.ledger_records`.

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
from datetime import UTC, datetime
from pathlib import Path

from fedseal.dp.config import DPConfig
from fedseal.dp.ledger_records import (
    BudgetChange,
    LedgerSettings,
    Refusal,
    RoundRecord,
    read_budget_changes,
    read_refusals,
    read_released,
    read_rounds,
    read_settings,
)
from fedseal.dp.ledger_schema import (
    LEDGER_FILENAME,
    connect_for_writing,
    has_budget_changes_table,
    migrate,
    write_settings,
)
from fedseal.errors import ConfigError

# Re-exported: LEDGER_FILENAME (from ledger_schema) and the record types (from ledger_records).
__all__ = [
    "LEDGER_FILENAME",
    "BudgetChange",
    "LedgerSettings",
    "PrivacyLedger",
    "Refusal",
    "RoundRecord",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
        self.settings = read_settings(conn, path)

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
        conn = connect_for_writing(path)
        clock = clock or _utc_now
        migrate(conn)  # idempotent; before BEGIN, as executescript may COMMIT
        conn.execute("BEGIN IMMEDIATE")
        try:
            write_settings(conn, path, silo=silo, config=config, clock=clock)
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
        return read_rounds(self._conn)

    def refusals(self) -> list[Refusal]:
        """Every refused round, oldest first."""
        return read_refusals(self._conn)

    def budget_changes(self) -> list[BudgetChange]:
        """Every change of the ε budget after the ledger was created, oldest first."""
        return read_budget_changes(self._conn)

    def mark_budget_changes_audited(self, upto_id: int) -> None:
        """Record that every budget change with ``row_id <= upto_id`` is in the audit log.

        Call it after the audit entry is durable: a crash in between audits the change twice
        at the next start, never not at all.
        """
        if not has_budget_changes_table(self._conn):
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
        return read_released(self._conn)

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
