"""HTML compliance trail built from audit logs: what happened per round, and which events
evidence which control (HIPAA 45 CFR §164.312(b) and (c)(1); GDPR Art. 30 and Art. 5(2)).

The report is a static, self-contained ``index.html`` (no scripts, no external assets). Every
value from a log is HTML-escaped. Each log is verified first and its verdict is shown at the
top: a trail built from a log that does not verify says so in red.
"""

from __future__ import annotations

import html
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedseal.audit import events as ev
from fedseal.audit.entry import Entry
from fedseal.audit.export import read_entries
from fedseal.audit.verify import VerifyReport, verify_log

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

_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
    ".ok{color:#060}.bad{color:#b00;font-weight:bold}code{font-size:90%}"
)


@dataclass
class _Round:
    participants: set[str] = field(default_factory=set)
    dropouts: list[str] = field(default_factory=list)
    consistency: list[str] = field(default_factory=list)
    digests: set[str] = field(default_factory=set)
    epsilon: dict[str, float] = field(default_factory=dict)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _collect(entries: Sequence[Entry]) -> dict[int, _Round]:
    rounds: dict[int, _Round] = defaultdict(_Round)
    for e in entries:
        if e.round is None:
            continue
        r, d = rounds[e.round], e.details
        silo = str(d.get("silo", e.party))
        if e.event in (ev.ROUND_STARTED, ev.ROUND_FINISHED):
            r.participants.update(_names(d.get("participants")))
        elif e.event == ev.KEYS_ADVERTISED:
            r.participants.add(silo)
        elif e.event == ev.DROPOUT:
            r.dropouts.append(f"{silo} ({d.get('stage', '?')}: {d.get('reason', '?')})")
        elif e.event == ev.CONSISTENCY_RESULT:
            r.consistency.append(f"{e.party}: {e.outcome}")
        elif e.event == ev.AGGREGATE_RELEASED:
            r.digests.add(str(d.get("aggregate_sha256", d.get("digest", "?"))))
        elif e.event == ev.DP_EPSILON_SPENT and isinstance(d.get("epsilon"), int | float):
            r.epsilon[silo] = float(d["epsilon"])
        if e.party != "server" and e.event not in (ev.CHECKPOINT, ev.CHECKPOINT_COSIGNED):
            r.participants.add(e.party)
    return dict(rounds)


def _verdicts(paths: Sequence[Path], reports: Sequence[VerifyReport]) -> list[str]:
    out = ["<h2>Logs</h2><table><tr><th>log</th><th>party</th><th>verification</th></tr>"]
    for path, rep in zip(paths, reports, strict=True):
        cls = "ok" if rep.ok else "bad"
        text = _e(rep.summary()).replace("\n", "<br>")
        out.append(
            f"<tr><td><code>{_e(path)}</code></td><td>{_e(rep.party or '-')}</td>"
            f'<td class="{cls}">{text}</td></tr>'
        )
    out.append("</table>")
    return out


def _rounds_table(rounds: dict[int, _Round]) -> list[str]:
    out = [
        "<h2>Rounds</h2><table><tr><th>round</th><th>participants</th><th>dropouts</th>"
        "<th>consistency check</th><th>aggregate digest (SHA-256)</th><th>ε spent</th></tr>"
    ]
    for number in sorted(rounds):
        r = rounds[number]
        eps = ", ".join(f"{_e(s)}: {v:.4g}" for s, v in sorted(r.epsilon.items())) or "-"
        out.append(
            f"<tr><td>{number}</td><td>{_e(', '.join(sorted(r.participants)) or '-')}</td>"
            f"<td>{'<br>'.join(_e(x) for x in r.dropouts) or 'none'}</td>"
            f"<td>{'<br>'.join(_e(x) for x in r.consistency) or '-'}</td>"
            f"<td><code>{'<br>'.join(_e(x) for x in sorted(r.digests)) or '-'}</code></td>"
            f"<td>{eps}</td></tr>"
        )
    out.append("</table>")
    return out


def _controls_table(counts: Counter[str]) -> list[str]:
    out = [
        "<h2>Controls and evidence</h2><table><tr><th>control</th><th>requirement</th>"
        "<th>evidencing events (count in these logs)</th></tr>"
    ]
    for control, (requirement, names) in CONTROLS.items():
        evidence = "<br>".join(f"<code>{_e(n)}</code> ({counts.get(n, 0)})" for n in names)
        out.append(f"<tr><td>{_e(control)}</td><td>{_e(requirement)}</td><td>{evidence}</td></tr>")
    out.append("</table>")
    return out


def build_report(paths: Sequence[str | os.PathLike[str]]) -> str:
    """Verify each log and return the HTML compliance trail as a string."""
    files = [Path(p) for p in paths]
    reports = [verify_log(p) for p in files]
    entries = [e for p in files for e in read_entries(p)[0]]
    counts = Counter(e.event for e in entries)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>fedseal compliance trail</title>',
        f"<style>{_STYLE}</style></head><body><h1>fedseal compliance trail</h1>",
        "<p>Built from tamper-evident audit logs (hash chain, RFC 6962 Merkle tree, signed "
        "checkpoints). Verification here is unpinned: run <code>fedseal audit verify LOG "
        "--key PUBKEY --witness FILE</code> for the pinned check.</p>",
        *_verdicts(files, reports),
        *_rounds_table(_collect(entries)),
        *_controls_table(counts),
        "</body></html>",
    ]
    return "\n".join(body) + "\n"


def write_report(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/index.html`` (creating ``out_dir``) and return its path."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    index = target / "index.html"
    index.write_text(build_report(paths), encoding="utf-8")
    return index
