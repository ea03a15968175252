"""``fedseal demo`` end to end: real processes, mTLS, a silo killed mid-round, audit, DP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_recovers_from_a_killed_silo_and_writes_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "fedseal.cli", "demo", "--out", str(out), "--rounds", "3"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds_completed"] == 3
    assert summary["dropouts"][0]["round"] == 2
    assert summary["dropouts"][0]["silo"] == "hospital-e"
    assert summary["dropouts"][0]["stage"] == "masked_input"  # after it shared its keys
    assert summary["final_accuracy"] >= 0.85
    assert len(summary["model"]) == 31
    assert set(summary["epsilon"]) == {f"hospital-{c}" for c in "abcde"}
    assert all(0 < eps <= 8.0 for eps in summary["epsilon"].values())
    for party, line in summary["audit"].items():
        valid, total = re.match(r"(\d+)/(\d+) entries valid", line).groups()  # type: ignore[union-attr]
        assert valid == total and int(total) > 0, (party, line)
    assert (out / "privacy-report.html").exists()
    assert "final test accuracy" in proc.stdout
