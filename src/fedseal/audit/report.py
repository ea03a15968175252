"""HTML compliance trail built from audit logs: what happened per round, and which events
evidence which control (HIPAA 45 CFR §164.312(b) and (c)(1); GDPR Art. 30 and Art. 5(2)).

Per round: participants, outcome (a failed round with its reason), dropouts, the consistency
check, the released aggregate's digest and ε per silo (from the silos' logs,
:mod:`fedseal.audit.compliance_rounds`); then the failed rounds, ε per silo over the whole
history, and the anomalies an auditor should look at (dropouts, refusals, budget exhaustion,
rejected aggregates, equivocation, under-witnessed checkpoints, gaps, unverified entries).

The report is a static, self-contained ``index.html`` (no scripts, no external assets). Every
value from a log is HTML-escaped. Each log is verified first (with the pinned key and witnesses
given, stated at the top) and its verdict is shown: a trail built from a log that does not verify
says so in red, and every value taken from an entry at or after its first unverified ``seq`` is
shown apart, marked ``UNVERIFIED``, in every table.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from fedseal.audit import events as ev
from fedseal.audit.compliance_html import STYLE, anomaly_section, esc, marked
from fedseal.audit.compliance_rounds import (
    RoundFacts,
    anomalies,
    collect_rounds,
    epsilon_values,
    integrity_anomalies,
)
from fedseal.audit.entry import Entry
from fedseal.audit.review import Reviewed, review_log

__all__ = ["CONTROLS", "build_report", "write_report"]

#: Control -> (what it asks for, the events that evidence it).
CONTROLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "HIPAA §164.312(b) Audit controls": (
        "Mechanisms that record and examine activity in systems that use ePHI.",
        (ev.PARTY_STARTED, ev.PARTY_AUTHENTICATED, ev.ROUND_STARTED, ev.KEYS_ADVERTISED,
         ev.SHARES_ROUTED, ev.DROPOUT, ev.UNMASK_ANSWERED, ev.UNMASK_REFUSED,
         ev.AGGREGATE_RELEASED, ev.CONFIG_CHANGED, ev.PROVISIONING),
    ),
    "HIPAA §164.312(c)(1) Integrity": (
        "Protect ePHI (and the record of its processing) from improper alteration or destruction.",
        (ev.CHECKPOINT, ev.CHECKPOINT_COSIGNED, ev.LOG_REPAIRED, ev.CONSISTENCY_RESULT,
         ev.AGGREGATE_RELEASED, ev.AGGREGATE_REJECTED),
    ),
    "GDPR Art. 30 Records of processing": (
        "Records of processing activities: purposes, parties, safeguards.",
        (ev.ROUND_STARTED, ev.PARTY_AUTHENTICATED, ev.PROVISIONING, ev.CONFIG_CHANGED,
         ev.DP_EPSILON_SPENT, ev.DP_BUDGET_REFUSED, ev.DP_PLAN),
    ),
    "GDPR Art. 5(2) Accountability": (
        "The controller can demonstrate compliance with the processing principles.",
        (ev.CHECKPOINT, ev.CHECKPOINT_COSIGNED, ev.DP_EPSILON_SPENT, ev.DP_BUDGET_REFUSED,
         ev.DP_PLAN, ev.UNMASK_REFUSED, ev.CONSISTENCY_RESULT),
    ),
}  # fmt: skip


def _verdicts(paths: Sequence[Path], reviewed: Sequence[Reviewed]) -> list[str]:
    out = ["<h2>Logs</h2><table><tr><th>log</th><th>party</th><th>verification</th></tr>"]
    for path, item in zip(paths, reviewed, strict=True):
        rep = item.report
        cls = "ok" if item.ok else "bad"
        text = esc(rep.summary()).replace("\n", "<br>")
        if item.banner():
            text += "<br>" + esc(f"{item.banner()}: later entries are marked UNVERIFIED below")
        out.append(
            f"<tr><td><code>{esc(path)}</code></td><td>{esc(rep.party or '-')}</td>"
            f'<td class="{cls}">{text}<br>{esc(item.pinning())}</td></tr>'
        )
    out.append("</table>")
    return out


def _outcome(r: RoundFacts) -> str:
    if r.outcome is None:
        return "unfinished" if r.started else "-"
    return r.outcome + (f": {r.reason}" if r.reason else "")


def _rounds_table(rounds: dict[int, RoundFacts], unverified: dict[int, RoundFacts]) -> list[str]:
    out = [
        "<h2>Rounds</h2><table><tr><th>round</th><th>outcome</th><th>participants</th>"
        "<th>dropouts</th><th>consistency check</th><th>aggregate digest (SHA-256)</th>"
        "<th>ε per silo: increase of its cumulative ε (total)</th></tr>"
    ]
    for number in sorted(set(rounds) | set(unverified)):
        r, u = rounds.get(number, RoundFacts()), unverified.get(number, RoundFacts())
        parts = [", ".join(sorted(r.participants))] if r.participants else []
        extra = u.participants - r.participants
        bad_parts = [", ".join(sorted(extra))] if extra else []
        outcome = [_outcome(r)] if r.outcome or r.started or not u.outcome else []
        bad_outcome = [_outcome(u)] if u.outcome else []
        label = f"{number}" if number in rounds else f'<span class="bad">{number} UNVERIFIED</span>'
        out.append(
            f"<tr><td>{label}</td><td>{marked(outcome, bad_outcome, '-')}</td>"
            f"<td>{marked(parts, bad_parts, '-')}</td>"
            f"<td>{marked(r.dropouts, u.dropouts, 'none')}</td>"
            f"<td>{marked(r.consistency, u.consistency, '-')}</td>"
            f"<td><code>{marked(sorted(r.digests), sorted(u.digests), '-')}</code></td>"
            f"<td>{marked(r.epsilon, u.epsilon, '-')}</td></tr>"
        )
    out.append("</table>")
    return out


def _failed_table(rounds: dict[int, RoundFacts], unverified: dict[int, RoundFacts]) -> list[str]:
    rows = []
    for number in sorted(set(rounds) | set(unverified)):
        for facts, bad in ((rounds.get(number), False), (unverified.get(number), True)):
            if facts is None or facts.outcome in (None, ev.SUCCESS):
                continue
            cell = marked(
                [] if bad else [facts.reason or "no reason given"],
                [facts.reason or "no reason given"] if bad else [],
                "-",
            )
            rows.append(f"<tr><td>{number}</td><td>{cell}</td><td>{len(facts.dropouts)}</td></tr>")
    head = "<h2>Failed rounds</h2>"
    if not rows:
        return [head, "<p>No round_finished entry reports a failure.</p>"]
    return [
        head,
        "<table><tr><th>round</th><th>reason</th><th>dropouts</th></tr>",
        *rows,
        "</table>",
    ]


def _epsilon_table(good: Sequence[Entry], bad: Sequence[Entry]) -> list[str]:
    """Per silo: rounds with an ε record, the last cumulative ε, the budget of its dp_plan."""
    eps = epsilon_values([*good, *bad])
    silos: dict[str, dict[str, list[str]]] = {}
    for entries, key in ((good, "good"), (bad, "bad")):
        for e in entries:
            d = e.details
            if id(e) in eps:
                silo, _, total = eps[id(e)]
                row = silos.setdefault(silo, {})
                row.setdefault(f"rounds_{key}", []).append(str(e.round))
                if total is not None:
                    row[f"total_{key}"] = [f"{total:.4g}"]
            elif e.event == ev.DP_PLAN and "epsilon_budget" in d:
                row = silos.setdefault(str(d.get("silo", e.party)), {})
                row[f"budget_{key}"] = [f"{d['epsilon_budget']} (δ {d.get('delta', '?')})"]
    out = [
        "<h2>Privacy budget per silo (from the silos' logs)</h2><table><tr><th>silo</th>"
        "<th>rounds with an ε record</th><th>cumulative ε at the last record</th>"
        "<th>ε budget (dp_plan)</th></tr>"
    ]
    if not silos:
        out.append('<tr><td colspan="4">no dp_epsilon_spent or dp_plan entry</td></tr>')
    for silo, row in sorted(silos.items()):
        cells = [
            marked(
                [", ".join(row.get(f"{k}_good", []))] if row.get(f"{k}_good") else [],
                [", ".join(row.get(f"{k}_bad", []))] if row.get(f"{k}_bad") else [],
                "-",
            )
            for k in ("rounds", "total", "budget")
        ]
        out.append(f"<tr><td>{esc(silo)}</td><td>" + "</td><td>".join(cells) + "</td></tr>")
    out.append("</table>")
    return out


def _controls_table(counts: Counter[str], unverified: Counter[str]) -> list[str]:
    out = [
        "<h2>Controls and evidence</h2><table><tr><th>control</th><th>requirement</th>"
        "<th>evidencing events (count in these logs)</th></tr>"
    ]
    for control, (requirement, names) in CONTROLS.items():
        evidence = "<br>".join(
            f"<code>{esc(n)}</code> ({counts.get(n, 0)})"
            + (f' <span class="bad">+ {unverified[n]} UNVERIFIED</span>' if unverified[n] else "")
            for n in names
        )
        out.append(
            f"<tr><td>{esc(control)}</td><td>{esc(requirement)}</td><td>{evidence}</td></tr>"
        )
    out.append("</table>")
    return out


def _pinning(reviewed: Sequence[Reviewed], witness_files: Sequence[str]) -> str:
    keys = {item.key.fingerprint() for item in reviewed if item.key is not None}
    key = f"pinned key {', '.join(sorted(keys))}" if keys else "key not pinned"
    used = ", ".join(f"<code>{esc(w)}</code>" for w in witness_files) or "none"
    verdict = "every log verifies" if all(i.ok for i in reviewed) else "NOT every log verifies"
    cls = "ok" if all(i.ok for i in reviewed) else "bad"
    return f'<p class="{cls}">Verification: {verdict}; {key}; witnesses: {used}.</p>'


def build_report(
    paths: Sequence[str | os.PathLike[str]],
    *,
    reviewed: Sequence[Reviewed] | None = None,
    witness_files: Sequence[str] = (),
) -> str:
    """Verify each log and return the HTML compliance trail as a string.

    Parameters
    ----------
    paths
        The logs.
    reviewed
        Each log already verified (:func:`fedseal.audit.review.review_log`, with the pinned key
        and witnesses); default: verify each one here, unpinned.
    witness_files
        The witness files used, to name at the top.

    Returns
    -------
    str
        The HTML document.
    """
    files = [Path(p) for p in paths]
    checked = list(reviewed) if reviewed is not None else [review_log(p) for p in files]
    good = [e for item in checked for e in item.entries[: item.verified_count]]
    bad = [e for item in checked for e in item.entries[item.verified_count :]]
    unverified = {id(e) for e in bad}
    rounds, rounds_bad = collect_rounds([*good, *bad], unverified)
    found = [
        a for item in checked for a in integrity_anomalies(item.report.party or "?", item.report)
    ]
    found += anomalies([*good, *bad], unverified)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>fedseal compliance trail</title>',
        f"<style>{STYLE}</style></head><body><h1>fedseal compliance trail</h1>",
        _pinning(checked, witness_files),
        "<p>Built from tamper-evident audit logs (hash chain, RFC 6962 Merkle tree, signed "
        "checkpoints). Without a pinned key or witnesses, a log re-signed under another key "
        "verifies: pass <code>--key PUBKEY --witness FILE</code>.</p>",
        *_verdicts(files, checked),
        *_rounds_table(rounds, rounds_bad),
        *_failed_table(rounds, rounds_bad),
        *_epsilon_table(good, bad),
        *anomaly_section([a.as_dict() for a in found]),
        *_controls_table(Counter(e.event for e in good), Counter(e.event for e in bad)),
        "</body></html>",
    ]
    return "\n".join(body) + "\n"


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    reviewed: Sequence[Reviewed] | None = None,
    witness_files: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/index.html`` (creating ``out_dir``) and return its path.

    ``reviewed`` and ``witness_files`` are passed to :func:`build_report`.
    """
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    index = target / "index.html"
    index.write_text(
        build_report(paths, reviewed=reviewed, witness_files=witness_files), encoding="utf-8"
    )
    return index
