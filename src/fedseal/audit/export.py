"""Read, filter and export audit entries: CSV, JSON Lines, and an aligned text table.

JSON Lines export writes the stored canonical lines byte for byte, so an unfiltered export of a
log that verifies is itself a verifiable log; an entry marked unverified is written with an added
``"verified": false`` field instead (so it can never pass for a stored entry). CSV export can add
a last ``verified`` column (``true``/``false``). CSV export neutralises spreadsheet formulas
(OWASP "CSV injection"): a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR is
prefixed with ``'``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Container, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from fedseal.audit.canonical import canonical_bytes
from fedseal.audit.canonical import loads as canonical_loads
from fedseal.audit.entry import Entry, parse_entry, parse_time
from fedseal.audit.verify import split_lines
from fedseal.errors import ConfigError

__all__ = [
    "CSV_COLUMNS",
    "filter_entries",
    "format_table",
    "read_entries",
    "write_csv",
    "write_jsonl",
]

CSV_COLUMNS = ("seq", "time", "party", "event", "round", "outcome", "details", "prev", "digest")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read_entries(path: str | os.PathLike[str]) -> tuple[list[Entry], int]:
    """Parse every complete, well-formed line of a log (no chain or signature checks).

    Returns ``(entries, skipped)``: ``skipped`` counts malformed lines and a torn tail. Use
    :func:`fedseal.audit.verify_log` to know whether the entries can be trusted.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read audit log {path}: {exc.strerror}") from None
    lines, tail, _ = split_lines(data)
    entries, skipped = [], int(bool(tail))
    for line in lines:
        try:
            entries.append(parse_entry(line))
        except ValueError:
            skipped += 1
    return entries, skipped


def filter_entries(
    entries: Iterable[Entry],
    *,
    round: int | None = None,
    event: str | None = None,
    party: str | None = None,
    since: datetime | str | None = None,
) -> list[Entry]:
    """Entries matching every given criterion (``since``: at or after, RFC 3339 or datetime)."""
    start = parse_time(since) if isinstance(since, str) else since
    out = []
    for e in entries:
        if round is not None and e.round != round:
            continue
        if (event is not None and e.event != event) or (party is not None and e.party != party):
            continue
        if start is not None and parse_time(e.time) < start:
            continue
        out.append(e)
    return out


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(e: Entry) -> list[str]:
    details = canonical_bytes(e.details).decode("utf-8")
    rnd = "" if e.round is None else str(e.round)
    values = [str(e.seq), e.time, e.party, e.event, rnd, e.outcome, details, e.prev, e.digest]
    return [_cell(v) for v in values]


def write_csv(
    entries: Iterable[Entry], out: IO[str], *, unverified: Container[int] | None = None
) -> None:
    """Write a header and one row per entry (``details`` as canonical JSON text).

    Parameters
    ----------
    entries
        The entries to write.
    out
        A text stream opened with ``newline=""``.
    unverified
        If given, add a last ``verified`` column: ``false`` for each entry whose ``id()`` is in
        it, ``true`` otherwise (see :meth:`fedseal.audit.review.Reviewed.unverified`).
    """
    writer = csv.writer(out, lineterminator="\n")
    marked = unverified is not None
    writer.writerow([*CSV_COLUMNS, "verified"] if marked else CSV_COLUMNS)
    for e in entries:
        row = _row(e)
        if unverified is not None:
            row.append("false" if id(e) in unverified else "true")
        writer.writerow(row)


def write_jsonl(
    entries: Iterable[Entry], out: IO[bytes], *, unverified: Container[int] = ()
) -> None:
    """Write the entries' stored canonical lines, one per line.

    An entry whose ``id()`` is in ``unverified`` is written as its canonical JSON object with
    an added ``"verified": false`` field instead of its stored line.
    """
    for e in entries:
        if id(e) in unverified:
            obj = canonical_loads(e.line)
            obj["verified"] = False
            out.write(canonical_bytes(obj) + b"\n")
        else:
            out.write(e.line + b"\n")


def format_table(entries: Sequence[Entry], *, details_width: int = 60) -> str:
    """An aligned plain-text table: seq, time, party, event, round, outcome, details."""
    header = ("seq", "time", "party", "event", "round", "outcome", "details")
    rows = [header]
    for e in entries:
        details = canonical_bytes(e.details).decode("utf-8")
        if len(details) > details_width:
            details = details[: details_width - 1] + "…"
        rnd = "-" if e.round is None else str(e.round)
        rows.append((str(e.seq), e.time, e.party, e.event, rnd, e.outcome, details))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if i in (0, 4) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)
