"""The report and the compliance pack render in a real headless browser, hostile content inert.

Skipped, with the reason, when no chromium / chromium-browser / google-chrome is on PATH
(Debian: ``apt-get install chromium``). ``scripts/check_report_html.sh`` runs the same check
by hand.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from audit_cli_helpers import run
from compliance_helpers import HOSTILE, check_html, make_deployment

BROWSER = next(
    (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_report_html.sh"

pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless browser (chromium, chromium-browser, google-chrome)"
)


def _dom(path: Path) -> str:
    assert BROWSER is not None
    proc = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return proc.stdout


def test_the_browser_parses_every_section_and_runs_nothing(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    out = tmp_path / "r"
    assert run("audit", "report", "--deployment", str(root), "--out", str(out), "--compliance") == 0
    dom = _dom(out / "compliance.html")
    parsed = check_html(dom)  # what the browser built: no script element, no handler
    assert {"verification", "gdpr-art30", "hipaa-164-312", "eu-ai-act-art12", "anomalies"} <= (
        parsed.ids
    )
    text = "".join(parsed.text)
    assert HOSTILE in text  # the hostile strings arrived as text
    assert "every log verifies" in text and "train a readmission-risk model" in text
    index = _dom(out / "index.html")
    assert HOSTILE in "".join(check_html(index).text)
    assert "Failed rounds" in index and "a: 1.25 (total 1.25)" in index


def test_the_documented_script_passes(tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "dep")
    out = tmp_path / "r"
    run("audit", "report", "--deployment", str(root), "--out", str(out), "--compliance")
    proc = subprocess.run(
        ["sh", str(SCRIPT), str(out / "index.html"), str(out / "compliance.html")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok   ") == 2
