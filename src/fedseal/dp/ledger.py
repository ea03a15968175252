"""The per-silo privacy ledger: every noisy round this silo ever ran, in SQLite.

The ledger is the accountant's memory. Its file, ``privacy-ledger.sqlite3`` in the silo's state
directory, holds three tables:

``settings``
    One row fixed at creation: silo name, δ, accountant, ε budget. Reopening with another δ or
    accountant is refused: ε values computed under different δ or accountants do not compose.
``rounds``
    One row per round that may have drawn noise: round id, UTC time, steps, sample rate q,
    noise multiplier σ, clipping norm C, δ, accountant, ε after the round, and a status.
``refusals``
    Rounds the budget guard refused: round id, UTC time, ε it would have reached, budget.

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

__all__ = ["LEDGER_FILENAME", "LedgerSettings", "PrivacyLedger", "Refusal", "RoundRecord"]

LEDGER_FILENAME = "privacy-ledger.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    silo TEXT NOT NULL, delta REAL NOT NULL, accountant TEXT NOT NULL,
    epsilon_budget REAL NOT NULL, created_utc TEXT NOT NULL);
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PrivacyLedger:
    """A silo's privacy ledger. Open with :meth:`open` (read-write) or :meth:`read` (reports).

    Parameters are private; use the class methods. The connection is in autocommit mode and
    every write is its own transaction (or part of :meth:`exclusive`).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._in_txn = False
        row = conn.execute(
            "SELECT silo, delta, accountant, epsilon_budget FROM settings WHERE id = 1"
        ).fetchone()
        if row is None:
            raise ConfigError(f"privacy ledger {path} has no settings row")
        self.settings = LedgerSettings(str(row[0]), float(row[1]), str(row[2]), float(row[3]))

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

        Raises
        ------
        ConfigError
            If the existing ledger belongs to another silo or was created with another δ or
            accountant. A changed ``epsilon_budget`` is stored (the newest one applies).
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT silo, delta, accountant FROM settings WHERE id = 1"
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO settings VALUES (1, ?, ?, ?, ?, ?)",
                    (
                        silo,
                        config.delta,
                        config.accountant,
                        config.epsilon_budget,
                        clock().isoformat(),
                    ),
                )
            else:
                for name, stored, wanted in zip(
                    ("silo", "delta", "accountant"),
                    row,
                    (silo, config.delta, config.accountant),
                    strict=True,
                ):
                    if stored != wanted:
                        raise ConfigError(
                            f"privacy ledger {path} was created with {name}={stored!r}; "
                            f"refusing {name}={wanted!r} (ε under different {name} values "
                            "does not compose)"
                        )
                conn.execute(
                    "UPDATE settings SET epsilon_budget = ? WHERE id = 1",
                    (config.epsilon_budget,),
                )
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
