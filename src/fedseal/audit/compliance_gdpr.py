"""GDPR Art. 30 record of processing activities, as far as config and audit logs support it.

Art. 30(1) lists what a controller's record holds: (a) the controller, joint controllers and
DPO; (b) the purposes; (c) the categories of data subjects and of personal data; (d) the
recipients; (e) transfers to third countries; (f) time limits for erasure; (g) a description of
the technical and organisational security measures of Art. 32(1). Items (a)-(f) are
declarations (``server.toml [processing]``); the logs can add who took part, what was
released and to whom, and for (g) which measures were in force (mTLS, secure aggregation,
differential privacy, signed and co-signed checkpoints).
"""

from __future__ import annotations

from typing import Any

from fedseal.audit import events as ev
from fedseal.audit.compliance_config import declared_row, roster_digest
from fedseal.audit.compliance_evidence import Evidence, Row
from fedseal.audit.entry import Entry

__all__ = ["gdpr_rows"]

_A30 = "GDPR Art. 30(1)"


def _names(entries: list[Entry], key: str) -> list[str]:
    return sorted({str(e.details.get(key)) for e in entries if key in e.details})


def _parties(ev_: Evidence) -> Row:
    hits = ev_.find(ev.PARTY_STARTED, ev.PROVISIONING, ev.PARTY_AUTHENTICATED)
    cited = [Evidence.config("server.toml", "identities")] if ev_.server else []

    def found(entries: list[Entry]) -> str:
        roles = sorted(
            {
                f"{e.party} ({e.details.get('role', '?')})"
                for e in entries
                if e.event == ev.PARTY_STARTED
            }
        )
        certified = _names([e for e in entries if e.event == ev.PROVISIONING], "subject")
        peers = _names([e for e in entries if e.event == ev.PARTY_AUTHENTICATED], "peer")
        text = f"parties started (role): {', '.join(roles) or 'none logged'}"
        text += f"; certificates issued to: {', '.join(certified) or 'none logged'}"
        text += f"; authenticated to the server over mTLS: {', '.join(peers) or 'none logged'}"
        if ev_.server is not None:
            text += (
                f"; roster of server.toml: {', '.join(sorted(ev_.server.get('identities', {})))}"
            )
            text += _roster_match(ev_, entries)
        return text

    return ev_.log_row(
        _A30 + "(a)",
        "Parties and their roles in the logs",
        hits,
        found,
        "no party_started, provisioning or party_authenticated entry",
        extra=cited,
    )


def _roster_match(ev_: Evidence, entries: list[Entry]) -> str:
    assert ev_.server is not None
    logged = [e for e in entries if e.party == "server" and "roster_sha256" in e.details]
    digest = roster_digest(ev_.server)
    if not logged or digest is None:
        return "; the roster digest is not logged"
    last = logged[-1]
    same = last.details["roster_sha256"] == digest
    verdict = "matches" if same else "DIFFERS FROM"
    return f"; server.toml's roster {verdict} the roster the server logged at seq {last.seq}"


def _released(ev_: Evidence) -> Row:
    def found(entries: list[Entry]) -> str:
        rounds = sorted({e.round for e in entries if e.round is not None})
        return (
            f"{len(entries)} aggregate model(s) released, each named by its SHA-256, to the "
            f"silos of rounds {', '.join(map(str, rounds))}; no silo's own update is logged "
            "as released"
        )

    return ev_.log_row(
        _A30 + "(d)",
        "Recipients: what the logs show was released",
        ev_.find(ev.AGGREGATE_RELEASED),
        found,
        "no aggregate_released entry",
    )


def _period(ev_: Evidence) -> Row:
    def found(entries: list[Entry]) -> str:
        spans: dict[str, list[str]] = {}
        for e in entries:
            spans.setdefault(e.party, []).append(e.time)
        parts = [f"{p}: {min(t)} to {max(t)}" for p, t in sorted(spans.items())]
        return "processing recorded " + "; ".join(parts) + " (erasure is not logged)"

    return ev_.log_row(
        _A30 + "(f)", "Period the logs cover", ev_.find(), found, "no entries", span=True
    )


def _mtls(ev_: Evidence) -> Row:
    tls = ev_.server.get("tls") if ev_.server is not None else None
    cited = [Evidence.config("server.toml", "tls")] if isinstance(tls, dict) else []

    def found(entries: list[Entry]) -> str:
        peers = _names(entries, "peer")
        return (
            f"{len(entries)} mutual-TLS authentication(s) of silos by certificate "
            f"({', '.join(peers)})"
            + ("; server.toml [tls] names the CA, certificate and key" if cited else "")
        )

    return ev_.log_row(
        "GDPR Art. 30(1)(g), Art. 32(1)",
        "Measure: mutual TLS",
        ev_.find(ev.PARTY_AUTHENTICATED),
        found,
        "no party_authenticated entry",
        extra=cited,
    )


def _aggregation(ev_: Evidence) -> Row:
    hits = ev_.find(
        ev.ROUND_STARTED,
        ev.PARTY_STARTED,
        party="server",
        where=lambda e: "aggregation" in e.details,
    )
    declared = ev_.server.get("aggregation") if ev_.server is not None else None
    cited = [Evidence.config("server.toml", "aggregation")] if declared is not None else []

    def found(entries: list[Entry]) -> str:
        modes = _names(entries, "aggregation")
        text = f"aggregation mode(s) logged: {', '.join(modes)}"
        if "none" in modes:
            text += " (INSECURE: updates travelled in clear)"
        if declared is not None:
            text += f"; server.toml declares aggregation = {declared!s}"
        return text

    return ev_.log_row(
        "GDPR Art. 30(1)(g), Art. 32(1)",
        "Measure: secure aggregation",
        hits,
        found,
        "no round_started entry names the mode",
        extra=cited,
    )


def _dp(ev_: Evidence) -> Row:
    hits = ev_.find(ev.DP_PLAN, ev.DP_EPSILON_SPENT, ev.DP_BUDGET_REFUSED)
    cited = [
        Evidence.config(f"silos/{n}/silo.toml", "dp")
        for n, s in sorted(ev_.silos.items())
        if isinstance(s.get("dp"), dict)
    ]

    def found(entries: list[Entry]) -> str:
        parts = []
        for silo in sorted({str(e.details.get("silo", e.party)) for e in entries}):
            mine = [e for e in entries if str(e.details.get("silo", e.party)) == silo]
            plan = [e.details for e in mine if e.event == ev.DP_PLAN]
            totals = [
                e.details.get("epsilon_total") for e in mine if e.event == ev.DP_EPSILON_SPENT
            ]
            text = f"{silo}: {len(totals)} round(s) trained under DP"
            if plan:
                text += (
                    f", σ {plan[-1].get('noise_multiplier', '?')}, q "
                    f"{plan[-1].get('sample_rate', '?')}, budget ε "
                    f"{plan[-1].get('epsilon_budget', '?')} at δ {plan[-1].get('delta', '?')}"
                    f" ({plan[-1].get('accountant', '?')})"
                )
            if totals and isinstance(totals[-1], int | float):
                text += f", cumulative ε {totals[-1]:.4g} at the last round"
            parts.append(text)
        return "; ".join(parts) + _dp_declared(ev_)

    return ev_.log_row(
        "GDPR Art. 30(1)(g), Art. 32(1)",
        "Measure: differential privacy",
        hits,
        found,
        "no dp_plan or dp_epsilon_spent entry" + _dp_declared(ev_),
        extra=cited,
    )


def _dp_declared(ev_: Evidence) -> str:
    off = sorted(
        n
        for n, s in ev_.silos.items()
        if isinstance(s.get("dp"), dict) and s["dp"].get("enabled") is False
    )
    return f"; silo.toml disables DP for: {', '.join(off)}" if off else ""


def _checkpoints(ev_: Evidence) -> Row:
    def found(entries: list[Entry]) -> str:
        signed = [e for e in entries if e.event == ev.CHECKPOINT]
        cosigned = [e for e in entries if e.event == ev.CHECKPOINT_COSIGNED]
        logs = sorted({e.party for e in signed})
        return (
            f"{len(signed)} signed checkpoint(s) that verified (logs: {', '.join(logs)}); "
            f"{len(cosigned)} co-signature(s) by silos of the server's checkpoints"
        )

    return ev_.log_row(
        "GDPR Art. 30(1)(g), Art. 32(1)",
        "Measure: signed audit checkpoints",
        ev_.find(ev.CHECKPOINT, ev.CHECKPOINT_COSIGNED),
        found,
        "no checkpoint entry",
    )


def gdpr_rows(ev_: Evidence, declared: dict[str, Any]) -> list[Row]:
    """The Art. 30(1) record: declared items, then what the logs show, in Art. 30 order."""
    a = _A30
    return [
        declared_row(a + "(a)", "Controller: name and contact details", declared, "controller"),
        declared_row(a + "(a)", "Data protection officer: contact", declared, "dpo_contact"),
        declared_row(
            "GDPR Art. 30(2)", "Processor operating the coordinator", declared, "processor"
        ),
        _parties(ev_),
        declared_row(a + "(b)", "Purposes of the processing", declared, "purposes"),
        declared_row(a + "(c)", "Categories of data subjects", declared, "data_subjects"),
        declared_row(a + "(c)", "Categories of personal data", declared, "data_categories"),
        declared_row(a + "(d)", "Recipients (declared)", declared, "recipients"),
        _released(ev_),
        declared_row(a + "(e)", "Transfers to third countries (declared)", declared, "transfers"),
        Evidence.absent(
            a + "(e)",
            "Transfers: where the parties are",
            "entries name parties, not their location or jurisdiction",
        ),
        declared_row(a + "(f)", "Time limits for erasure (declared)", declared, "retention"),
        _period(ev_),
        _mtls(ev_),
        _aggregation(ev_),
        _dp(ev_),
        _checkpoints(ev_),
        declared_row(
            a + "(g)", "Organisational measures (declared)", declared, "organisational_measures"
        ),
    ]
