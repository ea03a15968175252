"""``fedseal demo`` output through ``fedseal audit report --deployment --compliance``: real logs,
real configs, DP on every silo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from audit_cli_helpers import run
from compliance_helpers import check_html


@pytest.mark.slow
def test_demo_deployment_pack(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "fedseal.cli", "demo", "--out", str(out), "--rounds", "2",
         "--silos", "3", "--no-crash"],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = tmp_path / "report"
    assert run("audit", "report", "--deployment", str(out), "--out", str(report),
               "--compliance") == 0  # fmt: skip
    pack = json.loads((report / "compliance.json").read_text(encoding="utf-8"))
    logs = pack["verification"]["logs"]
    assert pack["verification"]["all_verified"] is True and len(logs) == 4
    assert all(log["verified"] and "not pinned" not in log["key"] for log in logs)
    assert logs[0]["witnessed_checkpoints"] > 0
    rows = {row["item"]: row for s in pack["sections"] for row in s["rows"]}
    assert rows["Measure: secure aggregation"]["status"] == "evidenced"
    assert "masking" in rows["Measure: secure aggregation"]["statement"]
    assert rows["Measure: differential privacy"]["status"] == "evidenced"
    assert rows["Measure: mutual TLS"]["status"] == "evidenced"
    assert (
        "matches the roster the server logged"
        in rows["Parties and their roles in the logs"]["statement"]
    )
    assert (
        "2 round(s) finished: 2 released a model"
        in rows["Monitoring of the operation"]["statement"]
    )
    released = [r for r in pack["rounds"] if r["verified"] and r["outcome"] == "success"]
    assert len(released) == 2 and all(len(r["epsilon"]) == 3 for r in released)
    check_html((report / "compliance.html").read_text(encoding="utf-8"))
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "hospital-a: " in index and "(total " in index  # ε per round from the silo logs
