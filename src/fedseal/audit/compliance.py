"""The compliance evidence pack: ``fedseal audit report --compliance`` (HTML and JSON).

From a deployment's audit logs (the server's and the silos') and its configuration
(``server.toml``, each ``silo.toml``), the pack lays out:

* a GDPR Art. 30 record of processing activities (:mod:`fedseal.audit.compliance_gdpr`);
* HIPAA 45 CFR §164.312(b) audit controls and §164.312(c)(1) integrity, and EU AI Act Art. 12
  record-keeping (:mod:`fedseal.audit.compliance_controls`);
* the anomalies of the round history (:mod:`fedseal.audit.compliance_rounds`).

Verification comes first (:mod:`fedseal.audit.review`, the path ``show``, ``export`` and
``report`` share): the pack states at the top whether every log verifies and how each was
pinned, and evidence from entries that did not verify is never presented as fact (it is cited
apart, marked unverified). Each row carries the evidence behind it (log, event, ``seq``; or a
configuration file and key) or says "not evidenced by these logs" / "not declared in
server.toml". See ``docs/compliance.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedseal.audit.compliance_config import processing_table
from fedseal.audit.compliance_controls import ai_act_rows, hipaa_rows
from fedseal.audit.compliance_evidence import Evidence, LogSource
from fedseal.audit.compliance_gdpr import gdpr_rows
from fedseal.audit.compliance_html import render_pack
from fedseal.audit.compliance_rounds import anomalies, collect_rounds, integrity_anomalies

__all__ = ["FORMAT", "build_pack", "write_pack"]

#: The ``format`` member of the pack's JSON document (its ``version`` is 1).
FORMAT = "fedseal-compliance-pack"

_STATEMENT = (
    "Each log was verified (hash chain, RFC 6962 Merkle tree, signed checkpoints, witnesses) "
    "before anything was read from it; entries from a log's first unverified seq on are cited "
    "only as UNVERIFIED. Configuration values are declarations read from the files as they are "
    "now: the logs' signatures do not cover them."
)


def _log(source: LogSource) -> dict[str, Any]:
    rev = source.reviewed
    problem = rev.report.problem
    key = f"key {rev.key.fingerprint()} ({source.key_source})" if rev.key else "key not pinned"
    return {
        "party": source.party,
        "path": str(source.path),
        "verified": rev.ok,
        "summary": rev.report.summary(),
        "entries": len(rev.entries),
        "verified_entries": rev.verified_count,
        "unverified_from_seq": problem.seq if problem else None,
        "reason": problem.reason if problem else None,
        "key": key,
        "witnessed_checkpoints": rev.report.witnessed,
        "under_witnessed": [seq for seq, _ in rev.report.under_witnessed],
        "warnings": list(rev.report.warnings),
    }


def _rounds(sources: Sequence[LogSource]) -> list[dict[str, Any]]:
    entries = [e for s in sources for e in s.reviewed.entries]
    bad = {id(e) for s in sources for e in s.reviewed.entries[s.reviewed.verified_count :]}
    good, unverified = collect_rounds(entries, bad)
    out = []
    for verified, facts in ((True, good), (False, unverified)):
        for number, r in sorted(facts.items()):
            out.append(
                {
                    "round": number,
                    "verified": verified,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "started": r.started,
                    "finished": r.finished,
                    "participants": sorted(r.participants),
                    "dropouts": r.dropouts,
                    "aggregate_sha256": sorted(r.digests),
                    "model_sha256": sorted(r.models),
                    "epsilon": r.epsilon,
                }
            )
    return out


def build_pack(
    sources: Sequence[LogSource],
    *,
    server: Mapping[str, Any] | None = None,
    silos: Mapping[str, Mapping[str, Any]] | None = None,
    deployment: str | os.PathLike[str] | None = None,
    warnings: Sequence[str] = (),
    witness_files: Sequence[str] = (),
) -> dict[str, Any]:
    """Build the pack's JSON document from reviewed logs and the deployment's configuration.

    Parameters
    ----------
    sources
        The logs, each already verified (:func:`fedseal.audit.review.review_log` or
        :func:`~fedseal.audit.review.review_deployment`) with how its key was pinned.
    server, silos
        ``server.toml`` and each ``silo.toml`` as :mod:`tomllib` read them; None/empty if no
        deployment folder was given (every declared item is then "not declared").
    deployment
        The deployment folder, to name in the pack.
    warnings, witness_files
        Warnings from reading the deployment and witnesses, and the witness files used.

    Returns
    -------
    dict
        JSON-ready: ``format``, ``version``, ``deployment``, ``verification``, ``declared``,
        ``sections`` (rows with status, statement and evidence), ``rounds``, ``anomalies``.
    """
    declared, notes = processing_table(server)
    evidence = Evidence(sources, server, silos or {})
    entries = [e for s in sources for e in s.reviewed.entries]
    bad = {id(e) for s in sources for e in s.reviewed.entries[s.reviewed.verified_count :]}
    found = [a for s in sources for a in integrity_anomalies(s.party, s.reviewed.report)]
    found += anomalies(entries, bad)
    sections = [
        (
            "gdpr-art30",
            "GDPR Art. 30: record of processing activities",
            gdpr_rows(evidence, declared),
        ),
        (
            "hipaa-164-312",
            "HIPAA 45 CFR §164.312(b) audit controls and (c)(1) integrity",
            hipaa_rows(evidence, found),
        ),
        ("eu-ai-act-art12", "EU AI Act Art. 12: record-keeping", ai_act_rows(evidence, found)),
    ]
    return {
        "format": FORMAT,
        "version": 1,
        "deployment": str(deployment) if deployment is not None else None,
        "verification": {
            "all_verified": bool(sources) and all(s.reviewed.ok for s in sources),
            "statement": _STATEMENT,
            "logs": [_log(s) for s in sources],
            "witness_files": [str(w) for w in witness_files],
            "warnings": [*warnings, *notes],
        },
        "declared": declared,
        "sections": [
            {"id": i, "title": t, "rows": [row.as_dict() for row in rows]}
            for i, t, rows in sections
        ],
        "rounds": _rounds(sources),
        "anomalies": [a.as_dict() for a in found],
    }


def write_pack(
    pack: Mapping[str, Any],
    html_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str],
) -> tuple[Path, Path]:
    """Write the pack as HTML and as JSON (creating their folders); return both paths."""
    paths = Path(html_path), Path(json_path)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    paths[0].write_text(render_pack(pack), encoding="utf-8")
    text = json.dumps(pack, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    paths[1].write_text(text, encoding="utf-8")
    return paths
