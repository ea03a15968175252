"""The human half of the privacy report: ``privacy-report.html`` with its embedded plot.

:func:`render_html` turns the report of :func:`fedseal.dp.report.privacy_report` into one
self-contained page: a matplotlib plot of ε over the deployment's round ids per silo (Agg
backend, embedded as a base64 PNG), the statement of what is and is not protected, and per
silo its rounds (finished or only begun), both accountants' ε and its budget changes.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

from fedseal.dp.report import (
    ACCOUNTANT_METHODS,
    FINISHED,
    PRIVACY_UNIT,
    RELATIONS,
    RELEASED,
    ROUND_STATUSES,
    UNFINISHED,
)
from fedseal.extras import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_html"]


def _figure(silos: list[dict[str, Any]]) -> Figure | None:
    """ε after each round against the deployment's round ids; None if no silo trained."""
    trained = [s for s in silos if s["rounds"]]
    if not trained:
        return None
    require("dp", "matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7.0, 4.0), dpi=100)
    ax = fig.add_subplot()
    unfinished_label = f"{UNFINISHED} (counted in full)"
    for silo in trained:
        rounds = silo["rounds"]
        (line,) = ax.plot(
            [r["round"] for r in rounds],
            [r["epsilon"] for r in rounds],
            marker=".",
            label=silo["silo"],
        )
        open_rounds = [r for r in rounds if r["status"] not in (FINISHED, RELEASED)]
        if open_rounds:
            ax.plot(
                [r["round"] for r in open_rounds],
                [r["epsilon"] for r in open_rounds],
                linestyle="none",
                marker="x",
                markersize=9,
                color=line.get_color(),
                label=unfinished_label,
            )
            unfinished_label = "_nolegend_"
    for budget in sorted({silo["epsilon_budget"] for silo in trained}):
        ax.axhline(budget, color="grey", linestyle="--", linewidth=1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round id (the deployment's)")
    ax.set_ylabel("ε after the round (budget guard's accountant)")
    ax.set_title("Privacy spent per silo (dashed: budget)")
    ax.legend(loc="best", fontsize="small")
    return fig


def _plot_png(silos: list[dict[str, Any]]) -> bytes | None:
    fig = _figure(silos)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_ADD_REMOVE = (
    "For each silo, the guarantee bounds how much everything that silo's training sent can "
    "change if any one of its records is added or removed. It is not a replace-one guarantee "
    "(one record swapped for another); the table's last column gives the RDP ε the same rounds "
    "have under replace-one, which is larger."
)
_REPLACE_ONE = (
    "For each silo, the guarantee bounds how much everything that silo's training sent can "
    "change if any one of its records is replaced by any other record; the silo's number of "
    "records may then be public. Its ε is larger than the add/remove ε of the same rounds, shown "
    "in the last column for comparison. The replace-one analysis takes the two records' clipped "
    "gradients to point in opposite directions, which fedseal checked numerically to be the "
    "worst case (docs/privacy.md)."
)


def _relation_text(silos: list[dict[str, Any]]) -> str:
    texts = {"add_remove": _ADD_REMOVE, "replace_one": _REPLACE_ONE}
    used = sorted({str(s.get("relation", "add_remove")) for s in silos})
    return " ".join(
        (f"<i>{html.escape(RELATIONS[r])}</i>: " if len(used) > 1 else "") + html.escape(texts[r])
        for r in used
    )


_STATEMENT = """
<h2>What these numbers mean</h2>
<ul>
<li><b>Privacy unit:</b> {unit}. <b>Neighbouring relation:</b> {relation}. {relation_text}</li>
<li><b>Guarantee.</b> (ε, δ)-differential privacy of DP-SGD (Abadi et al. 2016) with per-example
clipping at C and Gaussian noise of standard deviation σ·C, over <i>every</i> round the silo ever
began in this deployment: rounds it finished and rounds it began but never finished (a crash, a
failure, or still running), which count in full and are never shown as finished.</li>
<li><b>Accountants.</b> The budget guard's accountant ({accountants}) gives ε spent; the other
is shown beside it. RDP: {rdp}<br>PRV: {prv}</li>
<li><b>Sampling assumption.</b> Poisson sampling: at each step every record is used
independently with probability q (the <code>sample_rate</code> below), exactly as fedseal samples;
gradients are divided by a fixed expected batch size, not the realised one.</li>
<li><b>Randomness.</b> Noise and sampling decisions come from a CSPRNG (AES-128-CTR keyed from
the operating system) unless a silo opted out for experiments.</li>
<li><b>Not protected.</b> Anything outside DP-SGD: the number of records a silo holds when q is
not declared (q = batch size / records then follows it), hyper-parameters, who takes part in which
round, and group-level facts (a patient with many records is protected only to the extent of k·ε
for k records). A silo with DP enabled sends no evaluation metrics. δ is the probability mass on
which the ε bound may fail; it should be far below 1/(number of records).</li>
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


def _rounds_cell(silo: dict[str, Any]) -> str:
    if not silo["rounds"]:
        return "no rounds trained"
    released = sum(1 for r in silo["rounds"] if r["status"] == RELEASED)
    finished = sum(1 for r in silo["rounds"] if r["status"] == FINISHED)
    open_rounds = len(silo["rounds"]) - finished - released
    return f"{released} {RELEASED}, {finished} {FINISHED} (not attested)" + (
        f", <b class='open'>{open_rounds} {UNFINISHED}</b>" if open_rounds else ""
    )


def _epsilon_cell(entry: dict[str, Any]) -> str:
    if entry["epsilon"] is None:
        return "–"
    value = f"{entry['epsilon']:.4f}"
    return f"<b>{value}</b> (budget guard)" if entry["budget_guard"] else value


def _rounds_html(silo: dict[str, Any]) -> str:
    head = f"<h3>{html.escape(silo['silo'])}</h3>"
    if not silo["rounds"]:
        return f"{head}<p>no rounds trained</p>"
    return (
        f"{head}<table><tr><th>round id</th><th>status</th><th>σ</th><th>q</th><th>steps</th>"
        f"<th>C</th><th>ε after ({html.escape(silo['accountant'])})</th></tr>"
        + "".join(
            f"<tr><td>{r['round']}</td><td>"
            + (
                r["status"]
                if r["status"] in (FINISHED, RELEASED)
                else f"<b class='open'>{UNFINISHED}</b> (counted in full)"
            )
            + f"</td><td>{r['noise_multiplier']:.4g}</td><td>{r['sample_rate']:.4g}</td>"
            f"<td>{r['steps']}</td><td>{r['max_grad_norm']:g}</td><td>{r['epsilon']:.4f}</td></tr>"
            for r in silo["rounds"]
        )
        + "</table>"
    )


def _other_relation_cell(silo: dict[str, Any]) -> str:
    return "; ".join(
        f"{html.escape(RELATIONS[r])}: {eps:.4f}"
        for r, eps in silo["epsilon_rdp_by_relation"].items()
        if r != silo["relation"]
    )


def _html(report: dict[str, Any], png: bytes | None) -> str:
    silos = report["silos"]
    esc = html.escape
    accountants = ", ".join(sorted({esc(s["accountant"]) for s in silos})) or "none"
    relation = "; ".join(sorted({s["neighbouring_relation"] for s in silos})) or "none"
    rows = "".join(
        f"<tr><td>{esc(s['silo'])}</td><td>{_rounds_cell(s)}</td>"
        f"<td>{_epsilon_cell(s['epsilon_by_accountant']['rdp'])}</td>"
        f"<td>{_epsilon_cell(s['epsilon_by_accountant']['prv'])}</td>"
        f"<td>{s['epsilon_budget']:g}</td><td>{s['delta']:g}</td>"
        f"<td>{len(s['refusals'])}</td><td>{_changes_cell(s)}</td>"
        f"<td>{_other_relation_cell(s)}</td></tr>"
        for s in silos
    )
    notes = "".join(
        f"<li>{esc(s['silo'])}, {name.upper()}: {esc(entry['note'])}</li>"
        for s in silos
        for name, entry in s["epsilon_by_accountant"].items()
        if entry["note"]
    )
    plot = (
        f"<p><img alt='epsilon after each round per silo, against round ids' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'></p>"
        if png is not None
        else "<p>No silo has trained a round yet: nothing to plot.</p>"
    )
    statuses = "".join(
        f"<li><b>{esc(name)}</b>: {esc(text)}</li>" for name, text in ROUND_STATUSES.items()
    )
    changes = "".join(_changes_html(s) for s in silos if s["budget_changes"])
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>fedseal privacy report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".raised,.open{color:#b00}</style>"
        "</head><body><h1>fedseal privacy report</h1>"
        f"<p><b>Privacy unit:</b> {esc(PRIVACY_UNIT)}. <b>Neighbouring relation:</b> "
        f"{esc(relation)}. (ε, δ) per silo over every round it began.</p>"
        "<table><tr><th>silo</th><th>rounds</th><th>ε (RDP)</th><th>ε (PRV, tight)</th>"
        "<th>ε budget</th><th>δ</th><th>refusals</th><th>budget changes</th>"
        "<th>ε (RDP) under the other relation</th></tr>"
        f"{rows}</table>"
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
        + plot
        + _STATEMENT.format(
            unit=esc(PRIVACY_UNIT),
            relation=esc(relation),
            relation_text=_relation_text(silos),
            accountants=accountants,
            rdp=esc(ACCOUNTANT_METHODS["rdp"]),
            prv=esc(ACCOUNTANT_METHODS["prv"]),
        )
        + (f"<h2>Budget changes</h2>{changes}" if changes else "")
        + f"<h2>Rounds</h2><ul>{statuses}</ul>"
        + "".join(_rounds_html(s) for s in silos)
        + "</body></html>\n"
    )


def render_html(report: dict[str, Any]) -> str:
    """The HTML page of ``report`` (from :func:`fedseal.dp.report.privacy_report`)."""
    return _html(report, _plot_png(report["silos"]))
