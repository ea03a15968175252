"""HIPAA 45 CFR §164.312(b) and (c)(1), and EU AI Act Art. 12, as far as audit logs reach.

§164.312(b) (audit controls) asks for mechanisms that record and examine activity in systems
that hold or use ePHI; §164.312(c)(1) (integrity) for protection of ePHI from improper alteration
or destruction. EU AI Act Art. 12 asks a high-risk AI system to record events automatically over
its lifetime (12(1)), so that situations presenting a risk or a substantial modification can be
identified (12(2)(a)), post-market monitoring is supported (12(2)(b)) and operation monitored
(12(2)(c)); 12(3) adds, for remote biometric identification systems, the period of each use,
the reference database, the input data and who verified the results. Each row cites the
entries that support it, or says plainly that these logs cannot show it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fedseal.audit import events as ev
from fedseal.audit.compliance_evidence import EVIDENCED, NOT_EVIDENCED, Evidence, Row
from fedseal.audit.compliance_rounds import Anomaly
from fedseal.audit.entry import Entry

__all__ = ["ai_act_rows", "hipaa_rows"]

_B = "HIPAA §164.312(b)"
_C1 = "HIPAA §164.312(c)(1)"
_A12 = "EU AI Act Art. 12"


def _verification_row(ref: str, item: str, ev_: Evidence) -> Row:
    ok = [s for s in ev_.sources if s.reviewed.ok]
    bad = [s for s in ev_.sources if not s.reviewed.ok]
    parts = [
        f"{s.party}: {s.reviewed.report.summary().splitlines()[-1]} ({s.key_source})" for s in ok
    ]
    parts += [f"{s.party}: {s.reviewed.banner()}" for s in bad]
    status = EVIDENCED if ok and not bad else NOT_EVIDENCED
    lead = "every log verified" if status == EVIDENCED else "NOT every log verified"
    cites = [
        {"log": s.party, "path": str(s.path), "verification": s.reviewed.ok} for s in ev_.sources
    ]
    return Row(ref, item, status, f"{lead}: " + "; ".join(parts), cites)


def _counts(entries: Sequence[Entry]) -> str:
    per = Counter(e.party for e in entries)
    return ", ".join(f"{party}: {n} entries" for party, n in sorted(per.items()))


def hipaa_rows(ev_: Evidence, found: Sequence[Anomaly]) -> list[Row]:
    """§164.312(b) audit controls, then §164.312(c)(1) integrity."""
    security = ev_.find(
        ev.DROPOUT,
        ev.UNMASK_REFUSED,
        ev.DP_BUDGET_REFUSED,
        ev.AGGREGATE_REJECTED,
        ev.SILO_EXCLUDED,
        ev.CONFIG_CHANGED,
    )
    witnessed = sum(s.reviewed.report.witnessed for s in ev_.sources)
    under = [a for a in found if a.kind == "under_witnessed"]
    return [
        ev_.log_row(
            _B,
            "Activity recorded by every party",
            ev_.find(),
            lambda es: f"each party keeps its own append-only log ({_counts(es)})",
            "no log holds an entry",
            span=True,
        ),
        ev_.log_row(
            _B,
            "Who, what, when, outcome in every entry",
            ev_.find(),
            lambda es: (
                f"{len(es)} verified entries, each with party, event, time, round "
                "and outcome (format §3, checked for each)"
            ),
            "no entry verified",
            span=True,
        ),
        ev_.log_row(
            _B,
            "Access by authenticated parties",
            ev_.find(ev.PARTY_AUTHENTICATED),
            lambda es: f"{len(es)} certificate-authenticated connection(s) logged",
            "no party_authenticated entry",
        ),
        ev_.log_row(
            _B,
            "Security-relevant events",
            security,
            lambda es: ", ".join(
                f"{k}: {n}" for k, n in sorted(Counter(e.event for e in es).items())
            ),
            "no dropout, refusal, rejection, exclusion or change is logged",
        ),
        _verification_row(_B, "Examination of the records (this pack)", ev_),
        Evidence.absent(
            _B,
            "Regular review of the records by the workforce",
            "a review procedure is organisational; only its results could be logged",
        ),
        _verification_row(_C1, "Audit records protected from alteration", ev_),
        Row(
            _C1,
            "Independent witnesses of the records",
            EVIDENCED if witnessed else NOT_EVIDENCED,
            f"{witnessed} checkpoint(s) matched by witness stores; "
            f"{len(under)} checkpoint(s) co-signed by fewer silos than the quorum"
            if witnessed
            else "not evidenced by these logs: no witness store matched a "
            "checkpoint (give --deployment or --witness)",
            [
                {"log": s.party, "witnessed_checkpoints": s.reviewed.report.witnessed}
                for s in ev_.sources
            ],
        ),
        ev_.log_row(
            _C1,
            "Integrity checks of each aggregate",
            ev_.find(ev.CONSISTENCY_RESULT, ev.AGGREGATE_REJECTED, ev.SILO_EXCLUDED),
            lambda es: ", ".join(
                f"{k} ({o}): {n}"
                for (k, o), n in sorted(Counter((e.event, e.outcome) for e in es).items())
            ),
            "no consistency_result, aggregate_rejected or silo_excluded entry",
        ),
        ev_.log_row(
            _C1,
            "Repairs of the records",
            ev_.find(ev.LOG_REPAIRED),
            lambda es: f"{len(es)} torn tail(s) cut, each recorded with its SHA-256",
            "no log_repaired entry: no log was repaired",
        ),
        Evidence.absent(
            _C1,
            "ePHI at rest in each silo",
            "the training data never leaves its silo and is never logged",
        ),
    ]


def _rounds_text(entries: list[Entry]) -> str:
    done = [e for e in entries if e.event == ev.ROUND_FINISHED]
    ok = sum(1 for e in done if e.outcome == ev.SUCCESS)
    return f"{len(done)} round(s) finished: {ok} released a model, {len(done) - ok} failed"


def _periods(entries: list[Entry]) -> str:
    start = {e.round: e.time for e in entries if e.event == ev.ROUND_STARTED}
    end = {e.round: e.time for e in entries if e.event == ev.ROUND_FINISHED}
    return "; ".join(
        f"round {r}: {t} to {end.get(r, 'unfinished')}"
        for r, t in sorted(start.items(), key=lambda x: x[0] or 0)
    )


def ai_act_rows(ev_: Evidence, found: Sequence[Anomaly]) -> list[Row]:
    """Art. 12(1)-(3) record-keeping items."""
    kinds = Counter(a.kind for a in found if a.verified)
    risky = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"
    return [
        ev_.log_row(
            _A12 + "(1)",
            "Automatic recording of events over the lifetime",
            ev_.find(),
            lambda es: (
                f"written by the software itself, gapless from seq 0 "
                f"({_counts(es)}); the server's log starts at provisioning"
                if any(e.event == ev.PROVISIONING for e in es)
                else f"written by the software itself, gapless from seq 0 ({_counts(es)})"
            ),
            "no entry",
            span=True,
        ),
        Row(
            _A12 + "(2)(a)",
            "Situations that may present a risk, or a substantial change",
            EVIDENCED if ev_.find()[0] else NOT_EVIDENCED,
            f"anomalies in verified entries: {risky} (each listed under Anomalies)",
            [{"anomalies": len([a for a in found if a.verified])}],
        ),
        ev_.log_row(
            _A12 + "(2)(b)",
            "Post-market monitoring: model versions",
            ev_.find(ev.AGGREGATE_RELEASED, party="server"),
            lambda es: f"{len(es)} released model(s), each named by model_sha256 and round",
            "no aggregate_released entry",
        ),
        ev_.log_row(
            _A12 + "(2)(c)",
            "Monitoring of the operation",
            ev_.find(ev.ROUND_FINISHED, party="server"),
            _rounds_text,
            "no round_finished entry in the server's log",
        ),
        ev_.log_row(
            _A12 + "(3)(a)",
            "Period of each use (start and end of each round)",
            ev_.find(ev.ROUND_STARTED, ev.ROUND_FINISHED, party="server"),
            _periods,
            "no round_started entry in the server's log",
        ),
        Evidence.absent(
            _A12 + "(3)(b)",
            "Reference database",
            "the data each silo trains on is never logged; only model digests are",
        ),
        Evidence.absent(
            _A12 + "(3)(c)",
            "Input data",
            "inputs are never logged, by design (no raw data in audit records)",
        ),
        Evidence.absent(
            _A12 + "(3)(d)",
            "Natural persons who verified the results",
            "entries name parties (machines), not the people who checked results",
        ),
    ]
