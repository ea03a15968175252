"""One audit entry: its fields, its canonical line, and the strict parser a verifier uses.

An entry is a canonical JSON object (see :mod:`fedseal.audit.canonical`) with exactly the keys
``seq``, ``time``, ``party``, ``event``, ``round``, ``outcome``, ``details`` and ``prev``
(``docs/audit-format.md`` §3). ``prev`` is the hex SHA-256 of the previous entry's canonical
bytes, or :data:`ZERO_HASH` for ``seq`` 0; the entry's canonical bytes are also its RFC 6962
Merkle leaf (RFC 6962 §2.1).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fedseal.audit.canonical import MAX_LINE_BYTES, canonical_bytes, decode_canonical
from fedseal.errors import ConfigError

__all__ = [
    "FIELDS",
    "MAX_NAME",
    "MAX_PARTY",
    "ZERO_HASH",
    "Entry",
    "format_time",
    "parse_entry",
    "parse_time",
    "utc_now",
]

#: ``prev`` of the first entry.
ZERO_HASH = "0" * 64
#: The keys of every entry, in canonical (sorted) order.
FIELDS = ("details", "event", "outcome", "party", "prev", "round", "seq", "time")

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Longest ``party``, in characters (code points).
MAX_PARTY = 128
#: Longest ``event`` or ``outcome`` name, in characters.
MAX_NAME = 64
_NAME = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}")


def utc_now() -> datetime:
    """The default clock: the current time in UTC."""
    return datetime.now(UTC)


def format_time(when: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``: ``2025-01-31T12:00:00.000000Z``.

    Raises
    ------
    ConfigError
        If ``when`` is naive (no time zone): a clock must say which zone it means.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError("audit clock returned a naive datetime; return an aware one (UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time (``Z`` or an offset; date alone means midnight UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"not an RFC 3339 time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed audit entry. ``line`` is its canonical bytes (the Merkle leaf input)."""

    seq: int
    time: str
    party: str
    event: str
    round: int | None
    outcome: str
    details: dict[str, Any]
    prev: str
    line: bytes

    @property
    def digest(self) -> str:
        """Hex SHA-256 of :attr:`line`: what the next entry's ``prev`` must be."""
        return hashlib.sha256(self.line).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (the object :attr:`line` encodes)."""
        return {
            "details": self.details,
            "event": self.event,
            "outcome": self.outcome,
            "party": self.party,
            "prev": self.prev,
            "round": self.round,
            "seq": self.seq,
            "time": self.time,
        }

    @classmethod
    def build(
        cls,
        *,
        seq: int,
        time: str,
        party: str,
        event: str,
        round: int | None,
        outcome: str,
        details: dict[str, Any],
        prev: str,
    ) -> Entry:
        """Encode the fields canonically and return the entry (fields are validated)."""
        obj = {
            "details": details,
            "event": event,
            "outcome": outcome,
            "party": party,
            "prev": prev,
            "round": round,
            "seq": seq,
            "time": time,
        }
        problem = _schema_problem(obj)
        if problem:
            raise ConfigError(f"audit entry: {problem}")
        line = canonical_bytes(obj)
        if len(line) > MAX_LINE_BYTES:
            raise ConfigError(f"audit entry: {len(line)} bytes, over the limit {MAX_LINE_BYTES}")
        return cls(seq, time, party, event, round, outcome, details, prev, line)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _schema_problem(obj: Any) -> str | None:
    """Why ``obj`` is not a well-formed entry, or None."""
    if not isinstance(obj, dict):
        return "an entry must be a JSON object"
    if tuple(sorted(obj)) != FIELDS:
        return f"fields must be exactly {', '.join(FIELDS)}; got {', '.join(sorted(obj))}"
    if not _is_int(obj["seq"]) or obj["seq"] < 0:
        return "seq must be an integer >= 0"
    if not isinstance(obj["time"], str) or not _TIME.fullmatch(obj["time"]):
        return "time must be RFC 3339 UTC like 2025-01-31T12:00:00.000000Z"
    try:
        datetime.fromisoformat(obj["time"][:-1])
    except ValueError:
        return "time is not a valid date and time"
    if not isinstance(obj["party"], str) or not 0 < len(obj["party"]) <= MAX_PARTY:
        return f"party must be a non-empty string (at most {MAX_PARTY} characters)"
    for name in ("event", "outcome"):
        if not isinstance(obj[name], str) or not _NAME.fullmatch(obj[name]):
            return f"{name} must match [a-z][a-z0-9_]*"
    if obj["round"] is not None and (not _is_int(obj["round"]) or obj["round"] < 0):
        return "round must be an integer >= 0 or null"
    if not isinstance(obj["details"], dict):
        return "details must be an object"
    if not isinstance(obj["prev"], str) or not _HEX64.fullmatch(obj["prev"]):
        return "prev must be 64 lower-case hex digits"
    return None


def parse_entry(line: bytes) -> Entry:
    """Parse one stored line (without its LF) strictly.

    Raises
    ------
    ValueError
        If the line is not canonical JSON or not a well-formed entry; the message says why.
    """
    obj = decode_canonical(line)
    problem = _schema_problem(obj)
    if problem:
        raise ValueError(problem)
    return Entry(
        seq=obj["seq"],
        time=obj["time"],
        party=obj["party"],
        event=obj["event"],
        round=obj["round"],
        outcome=obj["outcome"],
        details=obj["details"],
        prev=obj["prev"],
        line=line,
    )
