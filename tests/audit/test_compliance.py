"""Issue 14: ``fedseal audit report --compliance``, the evidence pack (GDPR Art. 30, HIPAA
§164.312(b)/(c)(1), EU AI Act Art. 12), verified first, with hostile content escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_cli_helpers import run
from compliance_helpers import HOSTILE, check_html, make_deployment

from fedseal.audit.compliance_config import PROCESSING_KEYS
from fedseal.audit.compliance_evidence import STATUSES


def _pack(root: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    status = run("audit", "report", "--deployment", str(root), "--out", str(out), "--compliance",
                 *extra)  # fmt: skip
    pack = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    return status, pack, (out / "compliance.html").read_text(encoding="utf-8")


def _rows(pack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["item"]: row for s in pack["sections"] for row in s["rows"]}


def test_processing_keys_match_the_config_schema() -> None:
    from fedseal.config.processing import PROCESSING

    assert PROCESSING.keys() == PROCESSING_KEYS


def test_the_pack_states_verification_and_cites_evidence(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    status, pack, html = _pack(root, tmp_path / "r")
    assert status == 0
    v = pack["verification"]
    assert v["all_verified"] is True
    assert [log["party"] for log in v["logs"]] == ["server", "a", "b", "c"]
    assert "server_identity pinned in every silo.toml" in v["logs"][0]["key"]
    assert v["logs"][0]["witnessed_checkpoints"] == 3  # one checkpoint, three silo stores
    assert "server.toml [identities] a" in v["logs"][1]["key"]
    assert {s["id"] for s in pack["sections"]} == {"gdpr-art30", "hipaa-164-312", "eu-ai-act-art12"}
    rows = _rows(pack)
    assert all(row["status"] in STATUSES for row in rows.values())
    purposes = rows["Purposes of the processing"]
    assert purposes["status"] == "declared"
    assert "train a readmission-risk model" in purposes["statement"]
    assert purposes["evidence"] == [{"config": "server.toml", "key": "processing.purposes"}]
    assert rows["Categories of data subjects"]["status"] == "not declared"
    assert "not declared in server.toml" in rows["Categories of data subjects"]["statement"]
    mtls = rows["Measure: mutual TLS"]
    assert mtls["status"] == "evidenced"
    assert {"log": "server", "path": str(root / "server" / "audit.jsonl"),
            "event": "party_authenticated", "seqs": [1, 2, 3]} in mtls["evidence"]  # fmt: skip
    dp = rows["Measure: differential privacy"]
    assert dp["status"] == "evidenced" and "budget ε 8.0" in dp["statement"]
    assert "cumulative ε 2 at the last round" in dp["statement"]
    assert rows["Transfers: where the parties are"]["status"] == "not evidenced"
    assert "not evidenced by these logs" in rows["Input data"]["statement"]
    assert "1 released a model, 1 failed" in rows["Monitoring of the operation"]["statement"]
    assert "matches the roster the server logged" not in str(rows)  # no roster digest logged
    kinds = {a["kind"] for a in pack["anomalies"]}
    assert {"dropout", "failed_round", "budget_exhausted", "epsilon_without_release"} <= kinds
    rounds = {(r["round"], r["verified"]): r for r in pack["rounds"]}
    assert rounds[(1, True)]["epsilon"] == [f"{s}: 1.25 (total 1.25)" for s in "abc"]
    assert rounds[(2, True)]["epsilon"] == [f"{s}: 0.75 (total 2)" for s in "abc"]
    parsed = check_html(html)
    assert {"verification", "gdpr-art30", "hipaa-164-312", "eu-ai-act-art12", "anomalies"} <= (
        parsed.ids
    )


def test_hostile_content_is_escaped_everywhere(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    _, pack, html = _pack(root, tmp_path / "r")
    assert "<script" not in html and "<img" not in html
    parsed = check_html(html)  # no <script>, no <img>, no on* attribute, balanced
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown, as text
    assert "&lt;script&gt;" in html
    index = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert HOSTILE in "".join(check_html(index).text)
    assert any(HOSTILE in a["text"] for a in pack["anomalies"])  # the JSON keeps it verbatim


def test_hostile_party_name_in_a_plain_log(tmp_path: Path) -> None:
    from audit_cli_helpers import Clock

    from fedseal.audit import AuditLog, events

    path = tmp_path / "evil.jsonl"
    with AuditLog(path, party=HOSTILE, clock=Clock()) as log:
        log.append(events.DROPOUT, round=1, details={"silo": HOSTILE, "reason": HOSTILE})
        log.append(events.UNMASK_REFUSED, round=1, outcome="refused", details={"reason": HOSTILE})
    out = tmp_path / "r"
    assert run("audit", "report", str(path), "--out", str(out), "--compliance") == 0
    for name in ("index.html", "compliance.html"):
        html = (out / name).read_text(encoding="utf-8")
        assert HOSTILE in "".join(check_html(html).text)
    pack = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    assert pack["deployment"] is None
    assert _rows(pack)["Controller: name and contact details"]["status"] == "not declared"


def test_an_unverified_silo_log_fails_the_pack_and_is_marked(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    log = root / "silos" / "b" / "audit.jsonl"
    log.write_bytes(log.read_bytes().replace(b'"epsilon_total":2.0', b'"epsilon_total":0.5'))
    status, pack, html = _pack(root, tmp_path / "r")
    assert status == 1
    assert pack["verification"]["all_verified"] is False
    b = next(x for x in pack["verification"]["logs"] if x["party"] == "b")
    assert b["verified"] is False and b["unverified_from_seq"] is not None
    assert "NOT every log verifies" in html and "UNVERIFIED" in html
    rounds = {(r["round"], r["verified"]): r for r in pack["rounds"]}
    assert "b: -0.75 (total 0.5)" in rounds[(2, False)]["epsilon"]  # shown apart, never as fact
    assert all("b:" not in e for e in rounds[(2, True)]["epsilon"])
    dp = _rows(pack)["Measure: differential privacy"]
    assert any(c["log"] == "b" for c in dp["unverified_evidence"])
    assert "UNVERIFIED: b log" in html
    check_html(html)


def test_a_truncated_silo_log_is_caught_by_the_servers_witness_store(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    held = root / "server" / "state" / "silo-witness"
    held.mkdir(parents=True)
    store = root / "silos" / "a" / "audit.jsonl"
    from fedseal.audit import WitnessStore, load_checkpoints

    keep = WitnessStore(held / "a.jsonl")
    for cp in load_checkpoints(store):
        keep.add(cp)
    store.write_bytes(b"".join(store.read_bytes().splitlines(keepends=True)[:2]))
    status, pack, _ = _pack(root, tmp_path / "r")
    assert status == 1
    a = next(x for x in pack["verification"]["logs"] if x["party"] == "a")
    assert a["verified"] is False and "truncated" in a["reason"]


def test_without_processing_table_every_declared_item_says_so(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep", processing=False, reason="timeout")
    out, page = tmp_path / "r", tmp_path / "p.html"
    assert run("audit", "report", "--deployment", str(root), "--out", str(out),
               "--compliance-html", str(page)) == 0  # fmt: skip
    assert check_html(page.read_text(encoding="utf-8")).ids
    pack = json.loads((out / "compliance.json").read_text(encoding="utf-8"))
    statuses = [r["status"] for r in _rows(pack).values()]
    assert "declared" not in statuses and statuses.count("not declared") == 10
    assert pack["declared"] == {}


def test_report_fills_epsilon_failed_rounds_and_anomalies(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep", reason="timeout")
    out = tmp_path / "r"
    assert run("audit", "report", "--deployment", str(root), "--out", str(out)) == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    check_html(html)
    for needle in ("a: 1.25 (total 1.25)", "c: 0.75 (total 2)", "<h2>Failed rounds</h2>",
                   "<td>2</td><td>timeout</td>", "budget_exhausted", "epsilon_without_release",
                   "c dropped out at masked_input: timeout", "8.0 (δ 1e-05)"):  # fmt: skip
        assert needle in html, needle
    assert not (out / "compliance.json").exists()


def test_show_and_export_take_a_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_deployment(tmp_path / "dep", reason="timeout")
    assert run("audit", "show", "--deployment", str(root)) == 0
    assert "round_started" in capsys.readouterr().out
    assert run("audit", "show", "b", "--deployment", str(root), "--event", "dp_plan") == 0
    assert "dp_plan" in capsys.readouterr().out
    silo = root / "silos" / "c" / "audit.jsonl"
    out = tmp_path / "c.jsonl"
    assert run("audit", "export", str(silo), "--deployment", str(root), "--format", "jsonl",
               "--out", str(out)) == 0  # fmt: skip
    assert out.read_bytes() == silo.read_bytes()
    assert run("audit", "show", str(tmp_path / "elsewhere.jsonl"), "--deployment", str(root)) == 2
    # a silo log re-sealed under another key passes unpinned, not against the deployment
    from compliance_helpers import SILOS

    from fedseal.audit import AuditLog, events
    from fedseal.secagg.identity import IdentityKey

    silo.unlink()
    with AuditLog(silo, party="c", identity=IdentityKey(bytes([7]) * 32)) as log:
        log.append(events.PARTY_STARTED, details={"role": "silo"})
        log.checkpoint()
    assert SILOS["c"].public_key.fingerprint() not in capsys.readouterr().err
    assert run("audit", "show", str(silo)) == 0
    assert run("audit", "show", "c", "--deployment", str(root)) == 1
    assert "UNVERIFIED from seq" in capsys.readouterr().err
