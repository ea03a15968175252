"""HTML of the compliance evidence pack (GDPR Art. 30, HIPAA 45 CFR §164.312(b)/(c)(1), EU AI Act
Art. 12), rendered from the same JSON document :mod:`fedseal.audit.compliance` writes.

A static, self-contained page: no script, no external asset, no inline event handler. Every
value is escaped with :func:`html.escape` (``quote=True``), because entries, party names and
reasons come from logs an attacker may have written. Unverified evidence is shown apart and
marked ``UNVERIFIED``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["STYLE", "anomaly_section", "esc", "marked", "render_pack"]

STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
    ".ok{color:#060}.bad{color:#b00;font-weight:bold}code{font-size:90%}"
    ".status-evidenced{color:#060}.status-declared{color:#036}"
    ".status-not-declared,.status-not-evidenced{color:#850}.status-unverified{color:#b00}"
)
#: Sequence numbers shown per citation; the JSON lists all of them.
_SHOWN = 20


def esc(value: Any) -> str:
    """``str(value)``, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def marked(good: Sequence[str], bad: Sequence[str], empty: str) -> str:
    """Verified values as they are, then unverified ones marked; all escaped."""
    cells = [esc(x) for x in good] + [f'<span class="bad">UNVERIFIED: {esc(x)}</span>' for x in bad]
    return "<br>".join(cells) or empty


def _cite(item: Mapping[str, Any]) -> str:
    if "config" in item:
        return f"<code>{esc(item['config'])}</code> key <code>{esc(item.get('key', ''))}</code>"
    if "seq_range" in item:
        first, last = item["seq_range"]
        return (
            f"{esc(item.get('log', '?'))} log <code>{esc(item.get('path', ''))}</code>: "
            f"every entry, seq {esc(first)} to {esc(last)}"
        )
    if "seqs" in item:
        seqs = [str(s) for s in item["seqs"]]
        shown = ", ".join(seqs[:_SHOWN]) + (
            f" and {len(seqs) - _SHOWN} more (see the JSON)" if len(seqs) > _SHOWN else ""
        )
        return (
            f"{esc(item.get('log', '?'))} log <code>{esc(item.get('path', ''))}</code>: "
            f"<code>{esc(item.get('event', ''))}</code> seq {esc(shown)}"
        )
    return esc(", ".join(f"{k}: {v}" for k, v in item.items()))


def _row(row: Mapping[str, Any]) -> str:
    status = str(row.get("status", ""))
    slug = "".join(c if c.isalnum() else "-" for c in status)
    cites = [_cite(c) for c in row.get("evidence", [])]
    cites += [
        f'<span class="bad">UNVERIFIED: {_cite(c)}</span>'
        for c in row.get("unverified_evidence", [])
    ]
    return (
        f"<tr><td>{esc(row.get('ref', ''))}</td><td>{esc(row.get('item', ''))}</td>"
        f'<td class="status-{slug}">{esc(status)}</td><td>{esc(row.get("statement", ""))}</td>'
        f"<td>{'<br>'.join(cites) or '-'}</td></tr>"
    )


def _verification(v: Mapping[str, Any]) -> list[str]:
    ok = bool(v.get("all_verified"))
    cls = "ok" if ok else "bad"
    verdict = "every log verifies" if ok else "NOT every log verifies: see the marked rows"
    out = [
        '<section id="verification"><h2>Verification</h2>',
        f'<p class="{cls}">{esc(verdict)}. {esc(v.get("statement", ""))}</p>',
        "<table><tr><th>party</th><th>log</th><th>result</th><th>key pinning</th>"
        "<th>witnesses</th></tr>",
    ]
    for log in v.get("logs", []):
        cls = "ok" if log.get("verified") else "bad"
        result = esc(log.get("summary", "")).replace("\n", "<br>")
        if log.get("unverified_from_seq") is not None:
            result += "<br>" + esc(f"UNVERIFIED from seq {log['unverified_from_seq']}")
        out.append(
            f"<tr><td>{esc(log.get('party', ''))}</td><td><code>{esc(log.get('path', ''))}"
            f'</code></td><td class="{cls}">{result}</td><td>{esc(log.get("key", ""))}</td>'
            f"<td>{esc(log.get('witnessed_checkpoints', 0))} checkpoint(s) matched</td></tr>"
        )
    out.append("</table>")
    warnings = [esc(w) for w in v.get("warnings", [])]
    if warnings:
        out.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{w}</li>" for w in warnings) + "</ul>")
    out.append("</section>")
    return out


def anomaly_section(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The anomalies table (``Anomaly.as_dict()`` items); unverified ones marked."""
    out = [
        '<section id="anomalies"><h2>Anomalies</h2><table><tr><th>kind</th><th>log</th>'
        "<th>seq</th><th>round</th><th>what</th></tr>"
    ]
    for a in items:
        text = [str(a.get("text", ""))]
        what = marked(text, [], "-") if a.get("verified") else marked([], text, "-")
        seq, rnd = a.get("seq"), a.get("round")
        out.append(
            f"<tr><td>{esc(a.get('kind', ''))}</td><td>{esc(a.get('party', ''))}</td>"
            f"<td>{esc('-' if seq is None else seq)}</td><td>{esc('-' if rnd is None else rnd)}"
            f"</td><td>{what}</td></tr>"
        )
    if not items:
        out.append('<tr><td colspan="5">none found</td></tr>')
    out.append("</table></section>")
    return out


def render_pack(pack: Mapping[str, Any]) -> str:
    """The pack's HTML document.

    Parameters
    ----------
    pack
        The document :func:`fedseal.audit.compliance.build_pack` returns.

    Returns
    -------
    str
        A complete HTML5 document.
    """
    title = "fedseal compliance evidence pack"
    body = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>',
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>",
        f"<p>Deployment: <code>{esc(pack.get('deployment') or 'none given')}</code>. "
        "Statuses: <b>evidenced</b> (verified log entries, cited by seq), <b>declared</b> "
        "(configuration: not covered by the logs' signatures), <b>not declared</b>, "
        "<b>not evidenced</b> (these logs cannot show it), <b>unverified</b> (only entries "
        "that did not verify mention it).</p>",
        *_verification(pack.get("verification", {})),
    ]
    for section in pack.get("sections", []):
        body.append(
            f'<section id="{esc(section.get("id", ""))}"><h2>{esc(section.get("title", ""))}'
            "</h2><table><tr><th>reference</th><th>item</th><th>status</th><th>statement</th>"
            "<th>evidence</th></tr>"
        )
        body.extend(_row(row) for row in section.get("rows", []))
        body.append("</table></section>")
    body.extend(anomaly_section(pack.get("anomalies", [])))
    body.append("</body></html>")
    return "\n".join(body) + "\n"
