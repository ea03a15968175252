"""The rows of the compliance evidence pack and the evidence each one cites.

A row of the pack (GDPR Art. 30 record, HIPAA 45 CFR §164.312(b)/(c)(1), EU AI Act Art. 12) has
one *status* and the evidence behind it:

* ``evidenced``: shown by entries that verified; each cited by log, event and ``seq``;
* ``declared``: a value of ``server.toml``/``silo.toml``, cited by file and key. Configuration is
  a declaration: it is not covered by the logs' hash chain or signatures;
* ``not declared``: the configuration leaves it out;
* ``not evidenced``: these logs cannot show it (the statement says why);
* ``unverified``: only entries at or after a log's first unverified ``seq`` mention it. They are
  cited apart and never counted as evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedseal.audit.entry import Entry
from fedseal.audit.review import Reviewed

__all__ = [
    "DECLARED",
    "EVIDENCED",
    "NOT_DECLARED",
    "NOT_EVIDENCED",
    "STATUSES",
    "UNVERIFIED",
    "Evidence",
    "LogSource",
    "Row",
]

EVIDENCED = "evidenced"
DECLARED = "declared"
NOT_DECLARED = "not declared"
NOT_EVIDENCED = "not evidenced"
UNVERIFIED = "unverified"
#: Every row status, in the order of decreasing support.
STATUSES = (EVIDENCED, DECLARED, UNVERIFIED, NOT_DECLARED, NOT_EVIDENCED)

#: ``(source, entry)``: one log entry found for a row.
Hit = tuple["LogSource", Entry]


@dataclass(frozen=True, slots=True)
class LogSource:
    """One reviewed log: whose, where, how it was pinned, and its verified entries."""

    party: str
    path: Path
    reviewed: Reviewed
    key_source: str


@dataclass(slots=True)
class Row:
    """One item of a regulation, its status, what supports it, and what is unverified."""

    ref: str
    item: str
    status: str
    statement: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    unverified: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ref": self.ref,
            "item": self.item,
            "status": self.status,
            "statement": self.statement,
            "evidence": self.evidence,
            "unverified_evidence": self.unverified,
        }


def _cite(hits: Iterable[Hit], *, span: bool = False) -> list[dict[str, Any]]:
    """Group hits by log and event: ``{"log", "path", "event", "seqs"}``; with ``span``, by log
    only: ``{"log", "path", "seq_range": [first, last]}`` (for rows about every entry)."""
    if span:
        ranges: dict[tuple[str, str], list[int]] = {}
        for source, entry in hits:
            ranges.setdefault((source.party, str(source.path)), []).append(entry.seq)
        return [
            {"log": party, "path": path, "seq_range": [min(seqs), max(seqs)]}
            for (party, path), seqs in ranges.items()
        ]
    groups: dict[tuple[str, str, str], list[int]] = {}
    for source, entry in hits:
        groups.setdefault((source.party, str(source.path), entry.event), []).append(entry.seq)
    return [
        {"log": party, "path": path, "event": event, "seqs": sorted(seqs)}
        for (party, path, event), seqs in groups.items()
    ]


class Evidence:
    """The reviewed logs and the deployment's configuration, searchable by event.

    Parameters
    ----------
    sources
        The reviewed logs (server first, if present).
    server
        ``server.toml`` as :mod:`tomllib` read it, or None (no deployment given).
    silos
        Each silo's ``silo.toml`` as read, by silo name.
    """

    def __init__(
        self,
        sources: Sequence[LogSource],
        server: Mapping[str, Any] | None,
        silos: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.sources = list(sources)
        self.server = server
        self.silos = dict(silos)

    def find(
        self,
        *events: str,
        party: str | None = None,
        where: Callable[[Entry], bool] | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        """Entries of ``events`` (any if none), ``(verified, unverified)``, in log order."""
        good: list[Hit] = []
        bad: list[Hit] = []
        for source in self.sources:
            if party is not None and source.party != party:
                continue
            count = source.reviewed.verified_count
            for i, entry in enumerate(source.reviewed.entries):
                if events and entry.event not in events:
                    continue
                if where is not None and not where(entry):
                    continue
                (good if i < count else bad).append((source, entry))
        return good, bad

    def log_row(
        self,
        ref: str,
        item: str,
        hits: tuple[list[Hit], list[Hit]],
        found: Callable[[list[Entry]], str],
        missing: str,
        *,
        extra: Sequence[dict[str, Any]] = (),
        span: bool = False,
    ) -> Row:
        """A row supported by log entries: ``found(verified entries)`` states what they show;
        without verified entries the row is ``unverified`` or ``not evidenced`` (``missing``).
        ``extra`` adds configuration citations; ``span`` cites each log's range of ``seq``."""
        good, bad = hits
        if good:
            status, statement = EVIDENCED, found([e for _, e in good])
        elif bad:
            status = UNVERIFIED
            statement = f"only unverified entries mention it; {missing}"
        else:
            status, statement = NOT_EVIDENCED, f"not evidenced by these logs: {missing}"
        cited = [*_cite(good, span=span), *extra]
        return Row(ref, item, status, statement, cited, _cite(bad, span=span))

    @staticmethod
    def absent(ref: str, item: str, why: str) -> Row:
        """A row these logs cannot address: ``not evidenced by these logs``, and why."""
        return Row(ref, item, NOT_EVIDENCED, f"not evidenced by these logs: {why}")

    @staticmethod
    def config(file: str, key: str) -> dict[str, Any]:
        """A citation of a configuration key (``{"config": "server.toml", "key": ...}``)."""
        return {"config": file, "key": key}
