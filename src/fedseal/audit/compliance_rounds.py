"""What the audit logs say about each round: participants, outcome, ε per silo, and anomalies.

Shared by the HTML trail (:mod:`fedseal.audit.report`) and the compliance evidence pack
(:mod:`fedseal.audit.compliance`): the round history is the core of the record-keeping that
EU AI Act Art. 12(2)-(3) asks for (periods of use, events that may signal a risk) and of the
HIPAA 45 CFR §164.312(b) audit controls.

ε comes from the silos' logs: ``dp_epsilon_spent`` records the *cumulative* ε of the silo's
privacy ledger after training for a round (``epsilon_total``); the round's share is its increase
over the silo's previous record in the same log (or over ``epsilon_spent`` of the ``dp_plan``
written at the silo's start). An explicit per-round ``epsilon`` is used as is. Under RDP
accounting ε does not add up across rounds, so the increase is stated as such, never as "the
round's ε" on its own.

Every fact is attributed to the entries it came from; facts from unverified entries (at or
after a log's first unverified ``seq``) go to a separate bucket so that callers mark them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from fedseal.audit import events as ev
from fedseal.audit.entry import Entry
from fedseal.audit.verify import VerifyReport

__all__ = [
    "Anomaly",
    "RoundFacts",
    "anomalies",
    "collect_rounds",
    "epsilon_values",
    "integrity_anomalies",
]


@dataclass
class RoundFacts:
    """One round, as one bucket (verified or unverified) of entries shows it."""

    participants: set[str] = field(default_factory=set)
    dropouts: list[str] = field(default_factory=list)
    consistency: list[str] = field(default_factory=list)
    digests: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    epsilon: list[str] = field(default_factory=list)
    outcome: str | None = None
    reason: str | None = None
    started: str | None = None
    finished: str | None = None


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something an auditor should look at: its kind, where it is, and whether it verified."""

    kind: str
    party: str
    seq: int | None
    round: int | None
    text: str
    verified: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "party": self.party,
            "seq": self.seq,
            "round": self.round,
            "text": self.text,
            "verified": self.verified,
        }


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def epsilon_values(entries: Sequence[Entry]) -> dict[int, tuple[str, float | None, float | None]]:
    """``id(entry) -> (silo, ε increase or explicit ε, cumulative ε)`` per ``dp_epsilon_spent``.

    ``entries`` may hold several logs; each silo's previous total is looked up in the same
    log (same ``party``), in ``seq`` order.
    """
    out: dict[int, tuple[str, float | None, float | None]] = {}
    last: dict[str, float] = {}
    for e in sorted(entries, key=lambda x: (x.party, x.seq)):
        d = e.details
        if e.event == ev.DP_PLAN:
            spent = _num(d.get("epsilon_spent"))
            if spent is not None:
                last[e.party] = spent
        if e.event != ev.DP_EPSILON_SPENT:
            continue
        silo, total = str(d.get("silo", e.party)), _num(d.get("epsilon_total"))
        explicit = _num(d.get("epsilon"))
        if explicit is None and total is not None:
            explicit = total - last.get(e.party, 0.0)
        if total is not None:
            last[e.party] = total
        out[id(e)] = (silo, explicit, total)
    return out


def _epsilon_text(silo: str, value: float | None, total: float | None) -> str:
    text = f"{silo}: {value:.4g}" if value is not None else f"{silo}: ?"
    return text + (f" (total {total:.4g})" if total is not None else "")


def collect_rounds(
    entries: Sequence[Entry], unverified: Collection[int] = frozenset()
) -> tuple[dict[int, RoundFacts], dict[int, RoundFacts]]:
    """Round facts from ``entries``: ``(verified, unverified)``, each keyed by round number.

    ``unverified`` holds the ``id()`` of the entries that did not verify.
    """
    good: dict[int, RoundFacts] = defaultdict(RoundFacts)
    bad: dict[int, RoundFacts] = defaultdict(RoundFacts)
    eps = epsilon_values(entries)
    for e in entries:
        if e.round is None:
            continue
        r, d = (bad if id(e) in unverified else good)[e.round], e.details
        silo = str(d.get("silo", e.party))
        if e.event == ev.ROUND_STARTED:
            r.participants.update(_names(d.get("participants")))
            if e.party == "server" or r.started is None:
                r.started = e.time
        elif e.event == ev.ROUND_FINISHED:
            r.participants.update(_names(d.get("participants")))
            r.outcome, r.finished = e.outcome, e.time
            r.reason = str(d["reason"]) if "reason" in d else None
        elif e.event == ev.KEYS_ADVERTISED and "silo" in d:
            r.participants.add(silo)
        elif e.event == ev.DROPOUT:
            r.dropouts.append(f"{silo} ({d.get('stage', '?')}: {d.get('reason', '?')})")
        elif e.event == ev.CONSISTENCY_RESULT:
            r.consistency.append(f"{e.party}: {e.outcome}")
        elif e.event == ev.AGGREGATE_RELEASED:
            r.digests.add(str(d.get("aggregate_sha256", d.get("digest", "?"))))
            if "model_sha256" in d:
                r.models.add(str(d["model_sha256"]))
        elif e.event == ev.DP_EPSILON_SPENT and id(e) in eps:
            r.epsilon.append(_epsilon_text(*eps[id(e)]))
        if e.party != "server" and e.event not in (ev.CHECKPOINT, ev.CHECKPOINT_COSIGNED):
            r.participants.add(e.party)
    return dict(good), dict(bad)


def _entry_anomaly(e: Entry, verified: bool) -> Anomaly | None:
    d = e.details
    who = str(d.get("silo", e.party))
    reason = str(d.get("reason", "no reason given"))
    found: tuple[str, str] | None = None
    if e.event == ev.DROPOUT:
        found = ("dropout", f"{who} dropped out at {d.get('stage', '?')}: {reason}")
    elif e.event in (ev.DP_BUDGET_REFUSED,) or (e.event == ev.DP_PLAN and e.outcome == ev.REFUSED):
        found = ("budget_exhausted", f"{who}: privacy budget refuses the round: {reason}")
    elif e.event == ev.ROUND_FINISHED and e.outcome != ev.SUCCESS:
        found = ("failed_round", f"round failed: {reason}")
    elif e.event == ev.AGGREGATE_REJECTED:
        found = ("rejected_aggregate", f"aggregate rejected (integrity check): {reason}")
    elif e.event == ev.SILO_EXCLUDED:
        found = ("excluded_silo", f"{who} excluded: {reason}")
    elif e.event == ev.LOG_REPAIRED:
        found = ("log_repaired", f"torn tail cut: {d.get('cut_bytes', '?')} bytes ({reason})")
    elif e.event == ev.CONFIG_CHANGED:
        change = f"{d.get('setting', '?')}: {d.get('old', '?')} -> {d.get('new', '?')}"
        found = ("config_changed", f"configuration changed ({change})")
    elif e.outcome == ev.REFUSED or e.event == ev.UNMASK_REFUSED:
        found = ("refusal", f"{e.event} refused by {who}: {reason}")
    if found is None:
        return None
    return Anomaly(found[0], e.party, e.seq, e.round, found[1], verified)


def _unverified(item: Anomaly) -> Anomaly:
    return Anomaly(item.kind, item.party, item.seq, item.round, item.text, verified=False)


def anomalies(entries: Sequence[Entry], unverified: Collection[int] = frozenset()) -> list[Anomaly]:
    """Dropouts, refusals, budget exhaustion, failed rounds, rejected aggregates, exclusions,
    repairs, configuration changes, ε spent in a round that released no model, and gaps in the
    server's round numbers; in log order. Integrity findings (unverified entries, equivocation,
    under-witnessed checkpoints) come from the verification reports, not from here.
    """
    found: list[Anomaly] = []
    for e in entries:
        item = _entry_anomaly(e, id(e) not in unverified)
        if item is not None:
            found.append(item)
    failed = {
        e.round
        for e in entries
        if e.party == "server" and e.event == ev.ROUND_FINISHED and e.outcome != ev.SUCCESS
    }
    for e in entries:
        if e.event == ev.DP_EPSILON_SPENT and e.round in failed:
            text = f"{e.details.get('silo', e.party)} spent privacy budget in a failed round"
            item = Anomaly("epsilon_without_release", e.party, e.seq, e.round, text)
            found.append(item if id(e) not in unverified else _unverified(item))
    started = sorted(
        {
            e.round
            for e in entries
            if e.party == "server" and e.event == ev.ROUND_STARTED and e.round is not None
        }
    )
    for before, after in pairwise(started):
        if after > before + 1:
            text = f"no round_started for rounds {before + 1}..{after - 1} in the server's log"
            found.append(Anomaly("gap", "server", None, before + 1, text))
    return found


def integrity_anomalies(party: str, report: VerifyReport) -> list[Anomaly]:
    """What verifying one log found: its first unverified entry, equivocation, checkpoints
    co-signed by fewer than the quorum, a torn tail."""
    found: list[Anomaly] = []
    p = report.problem
    if p is not None:
        kind = "equivocation" if "equivocation" in p.reason else "unverified"
        text = f"UNVERIFIED from seq {p.seq}: {p.reason}"
        found.append(Anomaly(kind, party, p.seq, None, text, verified=False))
    for warning in report.warnings:
        if "equivocation" in warning:
            found.append(Anomaly("equivocation", party, None, None, warning, verified=False))
    for seq, count in report.under_witnessed:
        text = f"checkpoint co-signed by {count} roster silo(s), fewer than quorum {report.quorum}"
        found.append(Anomaly("under_witnessed", party, seq, None, text))
    if report.torn_bytes:
        text = f"torn last line: {report.torn_bytes} bytes ({report.torn_reason})"
        found.append(Anomaly("torn_tail", party, None, None, text))
    return found
