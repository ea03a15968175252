"""HTML compliance trail built from audit logs: what happened per round, and which events
evidence which control (HIPAA 45 CFR §164.312(b) and (c)(1); GDPR Art. 30 and Art. 5(2)).

The report is a static, self-contained ``index.html`` (no scripts, no external assets). Every
value from a log is HTML-escaped. Each log is verified first (with the pinned key and witnesses
given, stated at the top) and its verdict is shown: a trail built from a log that does not verify
says so in red, and every value taken from an entry at or after its first unverified ``seq`` is
shown apart, marked ``UNVERIFIED``, in every table.
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


def _marked(good: Sequence[str], bad: Sequence[str], empty: str) -> str:
    """Verified values as they are, then unverified ones marked; all escaped."""
    cells = [_e(x) for x in good] + [f'<span class="bad">UNVERIFIED: {_e(x)}</span>' for x in bad]
    return "<br>".join(cells) or empty


def _verdicts(paths: Sequence[Path], reviewed: Sequence[Reviewed]) -> list[str]:
    out = ["<h2>Logs</h2><table><tr><th>log</th><th>party</th><th>verification</th></tr>"]
    for path, item in zip(paths, reviewed, strict=True):
        rep = item.report
        cls = "ok" if item.ok else "bad"
        text = _e(rep.summary()).replace("\n", "<br>")
        if item.banner():
            text += "<br>" + _e(f"{item.banner()}: later entries are marked UNVERIFIED below")
        out.append(
            f"<tr><td><code>{_e(path)}</code></td><td>{_e(rep.party or '-')}</td>"
            f'<td class="{cls}">{text}<br>{_e(item.pinning())}</td></tr>'
        )
    out.append("</table>")
    return out


def _rounds_table(rounds: dict[int, _Round], unverified: dict[int, _Round]) -> list[str]:
    out = [
        "<h2>Rounds</h2><table><tr><th>round</th><th>participants</th><th>dropouts</th>"
        "<th>consistency check</th><th>aggregate digest (SHA-256)</th><th>ε spent</th></tr>"
    ]
    for number in sorted(set(rounds) | set(unverified)):
        r, u = rounds.get(number, _Round()), unverified.get(number, _Round())
        parts = [", ".join(sorted(r.participants))] if r.participants else []
        extra = u.participants - r.participants
        bad_parts = [", ".join(sorted(extra))] if extra else []
        eps = [f"{s}: {v:.4g}" for s, v in sorted(r.epsilon.items())]
        bad_eps = [f"{s}: {v:.4g}" for s, v in sorted(u.epsilon.items())]
        label = f"{number}" if number in rounds else f'<span class="bad">{number} UNVERIFIED</span>'
        out.append(
            f"<tr><td>{label}</td><td>{_marked(parts, bad_parts, '-')}</td>"
            f"<td>{_marked(r.dropouts, u.dropouts, 'none')}</td>"
            f"<td>{_marked(r.consistency, u.consistency, '-')}</td>"
            f"<td><code>{_marked(sorted(r.digests), sorted(u.digests), '-')}</code></td>"
            f"<td>{_marked(eps, bad_eps, '-')}</td></tr>"
        )
    out.append("</table>")
    return out


def _controls_table(counts: Counter[str], unverified: Counter[str]) -> list[str]:
    out = [
        "<h2>Controls and evidence</h2><table><tr><th>control</th><th>requirement</th>"
        "<th>evidencing events (count in these logs)</th></tr>"
    ]
    for control, (requirement, names) in CONTROLS.items():
        evidence = "<br>".join(
            f"<code>{_e(n)}</code> ({counts.get(n, 0)})"
            + (f' <span class="bad">+ {unverified[n]} UNVERIFIED</span>' if unverified[n] else "")
            for n in names
        )
        out.append(f"<tr><td>{_e(control)}</td><td>{_e(requirement)}</td><td>{evidence}</td></tr>")
    out.append("</table>")
    return out


def _pinning(reviewed: Sequence[Reviewed], witness_files: Sequence[str]) -> str:
    keys = {item.key.fingerprint() for item in reviewed if item.key is not None}
    key = f"pinned key {', '.join(sorted(keys))}" if keys else "key not pinned"
    used = ", ".join(f"<code>{_e(w)}</code>" for w in witness_files) or "none"
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
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>fedseal compliance trail</title>',
        f"<style>{_STYLE}</style></head><body><h1>fedseal compliance trail</h1>",
        _pinning(checked, witness_files),
        "<p>Built from tamper-evident audit logs (hash chain, RFC 6962 Merkle tree, signed "
        "checkpoints). Without a pinned key or witnesses, a log re-signed under another key "
        "verifies: pass <code>--key PUBKEY --witness FILE</code>.</p>",
        *_verdicts(files, checked),
        *_rounds_table(_collect(good), _collect(bad)),
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
