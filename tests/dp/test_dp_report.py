"""Privacy reports (JSON + HTML) and the ``fedseal privacy report`` command."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fedseal.dp import write_privacy_report
from fedseal.dp.cli import register
from fedseal.errors import ConfigError, PrivacyBudgetExceeded


@pytest.fixture
def deployment(tmp_path: Path, make_trainer: Callable[..., Any]) -> Path:
    root = tmp_path / "deploy"
    for silo, rounds in (("hospital-a", 2), ("bank <b>", 3)):
        trainer = make_trainer(root / "silos" / silo, silo=silo, epsilon_budget=2.5)
        w = trainer.get_weights()
        for r in range(rounds):
            with contextlib.suppress(PrivacyBudgetExceeded):
                w, _, _ = trainer.fit(w, r, {})
        trainer.ledger.close()
    return root


def test_json_has_the_issue_fields(deployment: Path, tmp_path: Path) -> None:
    json_path, _html_path = write_privacy_report(deployment, tmp_path / "out")
    report = json.loads(json_path.read_text())
    silos = {s["silo"]: s for s in report["silos"]}
    assert set(silos) == {"hospital-a", "bank <b>"}
    for silo in silos.values():
        assert {"silo", "delta", "accountant", "epsilon", "epsilon_budget", "rounds"} <= set(silo)
        for r in silo["rounds"]:
            assert {
                "round",
                "noise_multiplier",
                "sample_rate",
                "steps",
                "max_grad_norm",
                "epsilon",
            } <= set(r)
        assert silo["epsilon"] == pytest.approx(silo["rounds"][-1]["epsilon"])
        assert silo["epsilon"] <= silo["epsilon_budget"]
    assert len(silos["hospital-a"]["rounds"]) == 2
    assert silos["bank <b>"]["refusals"]  # the third round would reach 2.69 > 2.5


def test_html_has_plot_and_statement(deployment: Path, tmp_path: Path) -> None:
    _, html_path = write_privacy_report(deployment, tmp_path / "out")
    page = html_path.read_text()
    assert "data:image/png;base64,iVBOR" in page
    for phrase in ("Privacy unit", "Poisson", "Not protected", "rdp", "δ"):
        assert phrase in page
    assert "bank &lt;b&gt;" in page and "bank <b>" not in page


def test_budget_changes_are_listed_and_raises_flagged(
    tmp_path: Path, make_trainer: Callable[..., Any]
) -> None:
    state = tmp_path / "one"
    for budget in (8.0, 4.0, 3.0):  # created at 8, lowered twice
        make_trainer(state, silo="solo", epsilon_budget=budget).ledger.close()
    json_path, html_path = write_privacy_report(state, tmp_path / "out")
    (silo,) = json.loads(json_path.read_text())["silos"]
    assert [(c["old_budget"], c["new_budget"], c["increase"]) for c in silo["budget_changes"]] == [
        (8.0, 4.0, False),
        (4.0, 3.0, False),
    ]
    assert silo["budget_raised"] is False and silo["epsilon_budget"] == 3.0
    page = html_path.read_text()
    assert "<h2>Budget changes</h2>" in page and "8 → 4" in page
    assert "class='raised'" not in page and "lowered" in page

    make_trainer(state, silo="solo", epsilon_budget=5.0, allow_budget_increase=True).ledger.close()
    json_path, html_path = write_privacy_report(state, tmp_path / "out")
    (silo,) = json.loads(json_path.read_text())["silos"]
    assert silo["budget_changes"][-1] == {
        "time_utc": silo["budget_changes"][-1]["time_utc"],
        "old_budget": 3.0,
        "new_budget": 5.0,
        "increase": True,
    }
    assert silo["budget_raised"] is True
    page = html_path.read_text()
    assert "3 → 5" in page and "(1 raised)" in page and "budget first set (8)" in page


def test_no_budget_section_without_changes(deployment: Path, tmp_path: Path) -> None:
    json_path, html_path = write_privacy_report(deployment, tmp_path / "out")
    for silo in json.loads(json_path.read_text())["silos"]:
        assert silo["budget_changes"] == [] and silo["budget_raised"] is False
    assert "Budget changes</h2>" not in html_path.read_text()


def test_single_silo_state_dir(tmp_path: Path, make_trainer: Callable[..., Any]) -> None:
    trainer = make_trainer(tmp_path / "one", silo="solo")
    trainer.fit(trainer.get_weights(), 0, {})
    json_path, _ = write_privacy_report(tmp_path / "one", tmp_path / "out")
    assert [s["silo"] for s in json.loads(json_path.read_text())["silos"]] == ["solo"]


def test_missing_ledger_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no privacy ledger"):
        write_privacy_report(tmp_path, tmp_path / "out")


def test_cli_handler(deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="fedseal")
    register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli-out"
    args = parser.parse_args(["privacy", "report", "--state", str(deployment), "--out", str(out)])
    assert args.handler(args) == 0
    assert (out / "privacy-report.json").is_file() and (out / "privacy-report.html").is_file()
    assert "privacy-report.json" in capsys.readouterr().out
