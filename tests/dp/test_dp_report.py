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


# --- issue 11: statuses, round ids, idle silos, unit and relation, tight accountant -------------
# Ledgers written directly (no training): fast, and any round ids and states we need.

_DEMO = (3.28857421875, 0.35, 20)  # the demo's σ, declared q and steps per round
_SMALL = (1.2, 0.1, 5)  # the trainer fixture's σ, q = 20/200 and steps


def _ledger(
    state: Path,
    silo: str,
    rounds: list[tuple[int, bool]],
    *,
    setting: tuple[float, float, int] = _SMALL,
    accountant: str = "rdp",
    row_epsilon: bool = True,
    relation: str = "add_remove",
) -> None:
    """A ledger of ``(round_id, finished)`` rows at ``setting``, each with the guard's ε.

    ``row_epsilon=False`` stores 0 as each row's ε (one accountant call per row is slow); the
    report recomputes the silo's total from the rows' σ, q and steps either way.
    """
    from fedseal.dp import DPConfig, PrivacyLedger
    from fedseal.dp.accounting import epsilon

    sigma, q, steps = setting
    config = DPConfig(
        epsilon_budget=8.0,
        noise_multiplier=sigma,
        delta=1e-5,
        accountant=accountant,  # type: ignore[arg-type]
        neighbouring_relation=relation,  # type: ignore[arg-type]
    )
    with PrivacyLedger.open(state, silo=silo, config=config) as ledger, ledger.exclusive():
        for k, (round_id, finished) in enumerate(rounds, start=1):
            eps = (
                epsilon(
                    [(sigma, q, steps * k)], delta=1e-5, accountant=accountant, relation=relation
                )
                if row_epsilon
                else 0.0
            )
            row = ledger.begin_round(
                round_id=round_id,
                steps=steps,
                sample_rate=q,
                noise_multiplier=sigma,
                max_grad_norm=1.0,
                epsilon=eps,
            )
            if finished:
                ledger.finish_round(row)


def _report(root: Path) -> dict[str, Any]:
    from fedseal.dp.report import privacy_report

    return {s["silo"]: s for s in privacy_report(root)["silos"]}


def test_rounds_are_finished_or_begun_not_finished(tmp_path: Path) -> None:
    from fedseal.dp.report import FINISHED, RELEASED, ROUND_STATUSES, UNFINISHED, privacy_report

    _ledger(tmp_path / "silos" / "a", "a", [(3, True), (7, True), (8, False)])
    report = privacy_report(tmp_path)
    (silo,) = report["silos"]
    assert [(r["round"], r["status"]) for r in silo["rounds"]] == [
        (3, "finished"),
        (7, "finished"),
        (8, "begun, not finished"),
    ]
    assert set(report["round_statuses"]) == {RELEASED, FINISHED, UNFINISHED} == set(ROUND_STATUSES)
    # the unfinished round counts in full, exactly as the guard counted it
    assert silo["epsilon"] == pytest.approx(silo["rounds"][-1]["epsilon"], rel=1e-9)

    _, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    page = html_path.read_text()
    assert "<td>8</td><td><b class='open'>begun, not finished</b> (counted in full)" in page
    assert "0 released in an aggregate, 2 finished (not attested), <b class='open'>1 begun" in page
    assert ">done<" not in page and "'done'" not in json.dumps(report)


def test_plot_x_axis_is_the_deployment_round_ids_as_integers(tmp_path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    from fedseal.dp.report import privacy_report
    from fedseal.dp.report_html import _figure

    _ledger(tmp_path / "silos" / "a", "a", [(3, True), (4, False)])
    _ledger(tmp_path / "silos" / "b", "b", [(4, True)])
    fig = _figure(privacy_report(tmp_path)["silos"])
    assert fig is not None
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["a"].get_xdata()) == [3, 4] and list(lines["b"].get_xdata()) == [4]
    # the begun-but-unfinished round 4 of silo a carries its own marker in the legend
    (open_marker,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert list(open_marker.get_xdata()) == [4]
    assert "begun, not finished" in str(open_marker.get_label())
    assert isinstance(ax.xaxis.get_major_locator(), MaxNLocator)
    ticks = list(ax.get_xticks())  # on [3, 4] a default locator would tick 3.2, 3.4, ...
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert "round id" in ax.get_xlabel()


def test_a_silo_that_never_trained_gets_no_plot(tmp_path: Path) -> None:
    from fedseal.dp import DPConfig, PrivacyLedger
    from fedseal.dp.report import privacy_report
    from fedseal.dp.report_html import _figure

    config = DPConfig(epsilon_budget=3.0, noise_multiplier=1.2, delta=1e-5)
    PrivacyLedger.open(tmp_path / "silos" / "idle", silo="idle", config=config).close()
    _, html_path = write_privacy_report(tmp_path, tmp_path / "only-idle")
    page = html_path.read_text()
    assert "data:image/png" not in page and "nothing to plot" in page
    assert "<h3>idle</h3><p>no rounds trained</p>" in page

    _ledger(tmp_path / "silos" / "busy", "busy", [(1, True)])
    report = privacy_report(tmp_path)
    idle = next(s for s in report["silos"] if s["silo"] == "idle")
    assert idle["rounds"] == [] and idle["epsilon"] == 0.0
    fig = _figure(report["silos"])
    assert fig is not None
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "busy" in labels and "idle" not in labels
    assert [
        line.get_ydata()[0] for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"
    ] == [8.0]  # only busy's budget, not idle's 3
    json_path, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    page = html_path.read_text()
    assert "data:image/png;base64,iVBOR" in page
    assert "<tr><td>idle</td><td>no rounds trained</td>" in page
    assert "<h3>idle</h3><p>no rounds trained</p>" in page
    assert json.loads(json_path.read_text())["silos"][1]["rounds"] == []


def test_unit_relation_and_conversion_are_stated(deployment: Path, tmp_path: Path) -> None:
    json_path, html_path = write_privacy_report(deployment, tmp_path / "out")
    for silo in json.loads(json_path.read_text())["silos"]:
        assert silo["privacy_unit"] == "one training record (example) of this silo"
        assert silo["neighbouring_relation"] == "add/remove one record"
        rdp = silo["epsilon_by_accountant"]["rdp"]["method"]
        assert "get_privacy_spent" in rdp and "Balle et al. 2020" in rdp
        assert "Gopi" in silo["epsilon_by_accountant"]["prv"]["method"]
    page = html_path.read_text()
    assert "one training record (example) of this silo" in page
    assert "add/remove one record" in page and "Balle et al. 2020" in page


def test_tight_prv_beside_the_guards_rdp(tmp_path: Path) -> None:
    _ledger(tmp_path / "silos" / "a", "a", [(1, True), (2, True), (3, True)])
    (silo,) = _report(tmp_path).values()
    by = silo["epsilon_by_accountant"]
    assert silo["accountant"] == "rdp" and silo["epsilon"] == by["rdp"]["epsilon"]
    assert by["rdp"]["budget_guard"] is True and by["prv"]["budget_guard"] is False
    # 15 steps at σ = 1.2, q = 0.1, δ = 1e-5 (Opacus 1.6): RDP 2.68970, PRV upper bound 2.27784
    assert by["rdp"]["epsilon"] == pytest.approx(2.68970, rel=1e-4)
    assert by["prv"]["epsilon"] == pytest.approx(2.27784, rel=1e-3)
    assert by["prv"]["epsilon"] < by["rdp"]["epsilon"]
    assert by["prv"]["note"] is None

    _, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    page = html_path.read_text()
    assert "<td><b>2.6897</b> (budget guard)</td><td>2.2778</td>" in page


def test_demo_history_gets_its_tight_epsilon(tmp_path: Path) -> None:
    _ledger(tmp_path / "silos" / "h", "h", [(r, True) for r in range(1, 11)], setting=_DEMO)
    by = _report(tmp_path)["h"]["epsilon_by_accountant"]
    # the demo: 10 rounds of 20 steps, σ = 3.2886, q = 0.35, δ = 1e-5
    assert by["rdp"]["epsilon"] == pytest.approx(7.99722, rel=1e-4)
    assert by["prv"]["epsilon"] == pytest.approx(7.41082, rel=1e-3)


def test_prv_silo_shows_rdp_beside_it(tmp_path: Path) -> None:
    _ledger(tmp_path / "silos" / "p", "p", [(1, True), (2, True)], accountant="prv")
    (silo,) = _report(tmp_path).values()
    by = silo["epsilon_by_accountant"]
    assert by["prv"]["budget_guard"] is True and by["rdp"]["budget_guard"] is False
    assert silo["epsilon"] == by["prv"]["epsilon"] < by["rdp"]["epsilon"]


def test_long_history_skips_prv_with_a_note(tmp_path: Path) -> None:
    # 1,001 demo rounds: PRV would take about a minute; the report skips it and says why
    rounds = [(r, True) for r in range(1, 1002)]
    _ledger(tmp_path / "silos" / "h", "h", rounds, setting=_DEMO, row_epsilon=False)
    _, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    (silo,) = json.loads((tmp_path / "out" / "privacy-report.json").read_text())["silos"]
    prv = silo["epsilon_by_accountant"]["prv"]
    assert prv["epsilon"] is None and prv["note"].startswith("not computed")
    assert silo["epsilon"] > 100  # the RDP bound, still reported and used by the guard
    page = html_path.read_text()
    assert "<td>–</td>" in page and "h, PRV: not computed" in page


class _Failing:
    def __init__(self, result: float | Exception) -> None:
        self.result = result

    def get_epsilon(self, *, delta: float) -> float:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.mark.parametrize("failure", [FloatingPointError("overflow"), float("inf")])
@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_prv_failure_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: float | Exception, accountant: str
) -> None:
    from fedseal.dp import report

    real = report.make_accountant

    def fake(entries: Any, name: str) -> Any:
        return _Failing(failure) if name == "prv" else real(entries, name)

    _ledger(tmp_path / "silos" / "a", "a", [(1, True)], accountant=accountant)
    monkeypatch.setattr(report, "make_accountant", fake)
    _, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    (silo,) = json.loads((tmp_path / "out" / "privacy-report.json").read_text())["silos"]
    by = silo["epsilon_by_accountant"]
    assert by["prv"]["epsilon"] is None and "PRV accountant failed" in by["prv"]["note"]
    assert by["rdp"]["epsilon"] == pytest.approx(2.00278, rel=1e-4)
    if accountant == "prv" and isinstance(failure, Exception):
        # like accounting.epsilon, the guard fell back to the RDP bound
        assert silo["epsilon"] == by["rdp"]["epsilon"]
        assert "ε is the RDP bound" in by["prv"]["note"]
    assert "PRV accountant failed" in html_path.read_text()


def test_a_round_attested_by_the_server_reads_released_not_merely_finished(
    tmp_path: Path,
) -> None:
    # Issue 11: the ledger tells "released in an aggregate" from "sent, round aborted".
    from fedseal.dp import PrivacyLedger
    from fedseal.dp.ledger import LEDGER_FILENAME
    from fedseal.dp.report import FINISHED, RELEASED, UNFINISHED, privacy_report

    state = tmp_path / "silos" / "a"
    _ledger(state, "a", [(3, True), (7, True), (8, False)])
    with PrivacyLedger.attach(state / LEDGER_FILENAME) as ledger:
        assert ledger.mark_released(3)
        assert not ledger.mark_released(8)  # begun, never finished: nothing was sent
        assert not ledger.mark_released(99)  # a round this silo never trained in
        assert ledger.mark_released(3)  # idempotent
        assert ledger.released_rounds() == {3}
    (silo,) = privacy_report(tmp_path)["silos"]
    assert [r["status"] for r in silo["rounds"]] == [RELEASED, FINISHED, UNFINISHED]


def test_each_silo_states_its_relation_and_both_epsilons(tmp_path: Path) -> None:
    from fedseal.dp.accounting import epsilon
    from fedseal.dp.report import write_privacy_report

    _ledger(tmp_path / "silos" / "a", "a", [(1, True), (2, True)])
    _ledger(tmp_path / "silos" / "b", "b", [(1, True), (2, True)], relation="replace_one")
    silos = _report(tmp_path)
    a, b = silos["a"], silos["b"]
    assert (a["relation"], a["neighbouring_relation"]) == ("add_remove", "add/remove one record")
    assert (b["relation"], b["neighbouring_relation"]) == (
        "replace_one",
        "replace one record by another",
    )
    history = [(1.2, 0.1, 10)]
    replace = epsilon(history, delta=1e-5, accountant="rdp", relation="replace_one")
    assert b["epsilon"] == pytest.approx(replace) == pytest.approx(b["rounds"][-1]["epsilon"])
    assert a["epsilon_rdp_by_relation"] == b["epsilon_rdp_by_relation"]
    assert b["epsilon_rdp_by_relation"]["replace_one"] == pytest.approx(replace)
    assert a["epsilon"] == pytest.approx(a["epsilon_rdp_by_relation"]["add_remove"])
    assert a["epsilon"] < replace
    prv = b["epsilon_by_accountant"]["prv"]
    assert prv["epsilon"] is None and "add/remove only" in prv["note"]
    assert "fedseal.dp.replace_one" in b["epsilon_by_accountant"]["rdp"]["method"]
    _, html_path = write_privacy_report(tmp_path, tmp_path / "out")
    page = html_path.read_text()
    assert "replace one record by another" in page and "add/remove one record" in page
    assert "under the other relation" in page
