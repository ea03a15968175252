"""Privacy reports from the ledgers: ``privacy-report.json`` (machines) and ``.html`` (people).

The report reads ledgers only (opened read-only), so it can run beside a live deployment.
ε per round is the value the guard computed when it let the round start, i.e. ε after that
round; the silo's total ε is recomputed from all its rows with the silo's accountant (RDP:
Mironov 2017; PRV: Gopi et al. 2021). The HTML page embeds a matplotlib plot (Agg backend) as a
base64 PNG and states, in plain language, what the numbers do and do not protect. Every change of
a silo's ε budget is listed; raises are flagged, since a budget raised after rounds were run
is a weaker promise than the one first made.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from fedseal.dp.accounting import spent_epsilon
from fedseal.dp.ledger import LEDGER_FILENAME, PrivacyLedger
from fedseal.errors import ConfigError

__all__ = ["REPORT_HTML", "REPORT_JSON", "find_ledgers", "privacy_report", "write_privacy_report"]

REPORT_JSON = "privacy-report.json"
REPORT_HTML = "privacy-report.html"
_FORMAT = "fedseal-privacy-report/1"


def find_ledgers(state_dir: str | Path) -> list[Path]:
    """Ledger files: a silo state dir, or a deployment with ``silos/*/`` or ``silos/*/state/``."""
    root = Path(state_dir)
    single = root / LEDGER_FILENAME
    if single.is_file():
        return [single]
    found = sorted(root.glob(f"silos/*/{LEDGER_FILENAME}")) or sorted(
        root.glob(f"silos/*/state/{LEDGER_FILENAME}")  # the layout of `fedseal provision`
    )
    if not found:
        raise ConfigError(
            f"no privacy ledger in {root} (looked for {LEDGER_FILENAME} and "
            f"silos/*/{LEDGER_FILENAME})"
        )
    return found


def _silo_report(path: Path) -> dict[str, Any]:
    with PrivacyLedger.read(path) as ledger:
        s = ledger.settings
        rounds = ledger.rounds()
        refusals = ledger.refusals()
        changes = ledger.budget_changes()
    return {
        "silo": s.silo,
        "delta": s.delta,
        "accountant": s.accountant,
        "epsilon": spent_epsilon(rounds, delta=s.delta, accountant=s.accountant),
        "epsilon_budget": s.epsilon_budget,
        "rounds": [
            {
                "round": r.round,
                "time_utc": r.time_utc,
                "status": r.status,
                "noise_multiplier": r.noise_multiplier,
                "sample_rate": r.sample_rate,
                "steps": r.steps,
                "max_grad_norm": r.max_grad_norm,
                "epsilon": r.epsilon,
            }
            for r in rounds
        ],
        "refusals": [
            {
                "round": f.round,
                "time_utc": f.time_utc,
                "epsilon_would_be": f.epsilon_would_be,
                "epsilon_budget": f.epsilon_budget,
            }
            for f in refusals
        ],
        "budget_changes": [
            {
                "time_utc": c.time_utc,
                "old_budget": c.old_budget,
                "new_budget": c.new_budget,
                "increase": c.increase,
            }
            for c in changes
        ],
        "budget_raised": any(c.increase for c in changes),
    }


def privacy_report(state_dir: str | Path) -> dict[str, Any]:
    """The report as a JSON-ready dict: ``{"format": ..., "silos": [per-silo objects]}``.

    Each per-silo object has ``silo, delta, accountant, epsilon, epsilon_budget, rounds,
    refusals, budget_changes, budget_raised``; each round has ``round, noise_multiplier,
    sample_rate, steps, max_grad_norm, epsilon`` (plus ``time_utc`` and ``status``); each budget
    change has ``time_utc, old_budget, new_budget, increase``.
    """
    return {"format": _FORMAT, "silos": [_silo_report(p) for p in find_ledgers(state_dir)]}


def _plot_png(silos: list[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.0), dpi=100)
    ax = fig.add_subplot()
    for silo in silos:
        eps = [r["epsilon"] for r in silo["rounds"]]
        ax.plot(range(1, len(eps) + 1), eps, marker=".", label=silo["silo"])
    budgets = sorted({silo["epsilon_budget"] for silo in silos})
    for budget in budgets:
        ax.axhline(budget, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("rounds trained by the silo")
    ax.set_ylabel("ε after the round")
    ax.set_title("Privacy spent per silo (dashed: budget)")
    if silos:
        ax.legend(loc="lower right", fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_STATEMENT = """
<h2>What these numbers mean</h2>
<ul>
<li><b>Privacy unit.</b> One example (one record) of one silo's training data. For each silo,
the guarantee bounds how much the models and updates that silo sent can change if any one of its
records is added or removed.</li>
<li><b>Guarantee.</b> (ε, δ)-differential privacy of DP-SGD (Abadi et al. 2016) with per-example
clipping at C and Gaussian noise of standard deviation σ·C, over <i>every</i> round the silo ever
trained in this deployment, including rounds interrupted by a crash (counted in full).</li>
<li><b>Accountant.</b> {accountants}. RDP: Rényi DP of the sampled Gaussian mechanism (Mironov
2017), converted to (ε, δ) by Opacus' <code>get_privacy_spent</code> over its default orders.
PRV: numerical composition of privacy random variables (Gopi et al. 2021), upper bound.</li>
<li><b>Sampling assumption.</b> Poisson sampling: at each step every record is used
independently with probability q (the <code>sample_rate</code> below), exactly as fedseal samples;
gradients are divided by a fixed expected batch size, not the realised one.</li>
<li><b>Randomness.</b> Noise and sampling decisions come from a CSPRNG (AES-128-CTR keyed from
the operating system) unless a silo opted out for experiments.</li>
<li><b>Not protected.</b> Anything outside DP-SGD: the number of records each silo has, evaluation
losses and accuracies sent to the server, hyper-parameters, who takes part in which round, and
group-level facts (a patient with many records is protected only to the extent of k·ε for k
records). δ is the probability mass on which the ε bound may fail; it should be far below
1/(number of records).</li>
</ul>
"""


def _changes_cell(silo: dict[str, Any]) -> str:
    changes = silo["budget_changes"]
    raised = sum(1 for c in changes if c["increase"])
    if not raised:
        return str(len(changes))
    return f"{len(changes)} <b class='raised'>({raised} raised)</b>"


def _changes_html(silo: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(c['time_utc'])}</td><td>{c['old_budget']:g} → {c['new_budget']:g}"
        "</td><td>"
        + ("<b class='raised'>raised</b>" if c["increase"] else "lowered")
        + "</td></tr>"
        for c in silo["budget_changes"]
    )
    note = (
        "<p class='raised'><b>This silo's ε budget was raised after its ledger was created."
        "</b> ε is still accounted over every round it ran, but may now exceed the budget "
        f"first set ({silo['budget_changes'][0]['old_budget']:g}).</p>"
        if silo["budget_raised"]
        else ""
    )
    return (
        f"<h3>{html.escape(silo['silo'])}</h3>{note}<table><tr><th>time (UTC)</th>"
        f"<th>ε budget</th><th>change</th></tr>{rows}</table>"
    )


def _html(report: dict[str, Any], png: bytes) -> str:
    silos = report["silos"]
    esc = html.escape
    accountants = ", ".join(sorted({esc(s["accountant"]) for s in silos})) or "none"
    rows = "".join(
        f"<tr><td>{esc(s['silo'])}</td><td>{s['epsilon']:.4f}</td><td>{s['epsilon_budget']:g}</td>"
        f"<td>{s['delta']:g}</td><td>{esc(s['accountant'])}</td><td>{len(s['rounds'])}</td>"
        f"<td>{len(s['refusals'])}</td><td>{_changes_cell(s)}</td></tr>"
        for s in silos
    )
    changes = "".join(_changes_html(s) for s in silos if s["budget_changes"])
    details = "".join(
        f"<h3>{esc(s['silo'])}</h3><table><tr><th>round</th><th>status</th><th>σ</th><th>q</th>"
        "<th>steps</th><th>C</th><th>ε after</th></tr>"
        + "".join(
            f"<tr><td>{r['round']}</td><td>{esc(r['status'])}</td><td>{r['noise_multiplier']:.4g}"
            f"</td><td>{r['sample_rate']:.4g}</td><td>{r['steps']}</td>"
            f"<td>{r['max_grad_norm']:g}</td><td>{r['epsilon']:.4f}</td></tr>"
            for r in s["rounds"]
        )
        + "</table>"
        for s in silos
    )
    image = base64.b64encode(png).decode("ascii")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>fedseal privacy report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".raised{color:#b00}</style>"
        "</head><body><h1>fedseal privacy report</h1>"
        "<table><tr><th>silo</th><th>ε spent</th><th>ε budget</th><th>δ</th><th>accountant</th>"
        f"<th>rounds</th><th>refusals</th><th>budget changes</th></tr>{rows}</table>"
        f"<p><img alt='epsilon over rounds per silo' src='data:image/png;base64,{image}'></p>"
        + _STATEMENT.format(accountants=accountants)
        + (f"<h2>Budget changes</h2>{changes}" if changes else "")
        + f"<h2>Rounds</h2>{details}</body></html>\n"
    )


def write_privacy_report(state_dir: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``out_dir/privacy-report.json`` and ``out_dir/privacy-report.html``.

    Parameters
    ----------
    state_dir : path
        One silo's state directory (holding ``privacy-ledger.sqlite3``) or a deployment
        directory holding ``silos/<name>/privacy-ledger.sqlite3``.
    out_dir : path
        Created if missing.

    Returns
    -------
    (json_path, html_path)
    """
    report = privacy_report(state_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    html_path.write_text(_html(report, _plot_png(report["silos"])), encoding="utf-8")
    return json_path, html_path
