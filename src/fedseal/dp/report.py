"""Privacy reports from the ledgers: ``privacy-report.json`` (machines) and ``.html`` (people).

The report reads ledgers only (opened read-only), so it can run beside a live deployment.
Each silo's guarantee is stated with its privacy unit (one training record of that silo) and
the neighbouring relation its ledger was created with (add/remove one record, or replace one
record by another); beside it stands the RDP ε the same rounds give under the other relation.
ε per round is the value the guard computed when
it let the round start, i.e. ε after that round; each round says whether the silo finished it
or only began it (counted in full all the same: the ledger's crash rule). The silo's total ε is
recomputed from all its rows with the silo's accountant, the one its budget guard uses, and,
beside it, with the other: RDP (Mironov 2017; (ε, δ) by Balle et al. 2020, Thm. 21) is a
looser upper bound, PRV (Gopi et al. 2021) a tight one, computed only while it stays cheap.
The HTML page embeds a matplotlib plot (Agg backend; x axis: the deployment's round ids) as a
base64 PNG and states in plain language what the numbers do and do not protect. Every change
of a silo's ε budget is listed; raises are flagged, since a budget raised after rounds were run
is a weaker promise than the one first made.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedseal.dp.accounting import Entry, compose, epsilon, make_accountant
from fedseal.dp.config import RELATION_TEXT
from fedseal.dp.ledger import LEDGER_FILENAME, LedgerSettings, PrivacyLedger, RoundRecord
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    pass

__all__ = [
    "ACCOUNTANT_METHODS",
    "FINISHED",
    "PRIVACY_UNIT",
    "PRV_MAX_WORK",
    "RELATIONS",
    "RELEASED",
    "REPORT_HTML",
    "REPORT_JSON",
    "ROUND_STATUSES",
    "UNFINISHED",
    "find_ledgers",
    "privacy_report",
    "write_privacy_report",
]

REPORT_JSON = "privacy-report.json"
REPORT_HTML = "privacy-report.html"
_FORMAT = "fedseal-privacy-report/3"

PRIVACY_UNIT = "one training record (example) of this silo"
#: The relations a report may state, as worded in it.
RELATIONS = RELATION_TEXT
FINISHED = "finished"
UNFINISHED = "begun, not finished"
RELEASED = "released in an aggregate"
_STATUS = {"done": FINISHED, "begun": UNFINISHED}
ROUND_STATUSES = {
    RELEASED: "the silo trained and the server's signed checkpoint for the round attested that "
    "its aggregate was released.",
    FINISHED: "the silo completed its local training and sent its contribution, but saw no "
    "attested release: the round aborted after it trained (or its app does not record "
    "releases). Counted in full all the same.",
    UNFINISHED: "the silo reserved the round and may have drawn noise, but never recorded its "
    "end (killed, failed, or still running). Counted in full with its planned steps, exactly "
    "as the budget guard counts it; never a completed round.",
}
ACCOUNTANT_METHODS = {
    "rdp": "Opacus RDPAccountant: Rényi DP of the sampled Gaussian mechanism (Mironov 2017; "
    "Mironov, Talwar & Zhang 2019), converted to (ε, δ) by Opacus' get_privacy_spent as the "
    "minimum over orders α in 1.1..10.9 and 12..63 of RDP(α) + log((α-1)/α) - "
    "(log δ + log α)/(α-1) (Balle et al. 2020, Thm. 21). An upper bound; not tight.",
    "prv": "Opacus PRVAccountant: numerical composition of privacy random variables (Gopi, Lee "
    "& Wutschitz 2021), reporting the upper end of its estimate (eps_error 0.01, "
    "delta_error δ/1000). An upper bound within about 0.02 of the exact ε of this history.",
    "rdp_replace_one": "fedseal.dp.replace_one: Rényi DP of the Poisson-sampled Gaussian when "
    "one record is replaced by another (the pair (1-q)N(0,σ²)+qN(1,σ²) against "
    "(1-q)N(0,σ²)+qN(-1,σ²), integrated numerically), converted to (ε, δ) over the same orders "
    "as Opacus. An upper bound; not tight. Opacus' PRV accountant does not analyse this "
    "relation.",
}

#: Bound on the tight (PRV) ε of a history the guard does not account with PRV. Opacus
#: discretises the privacy loss on about 800·ε·√steps grid points per distinct (σ, q) setting
#: (mesh eps_error/√(steps·log(12/δ')/2) over a domain about ±ε wide; measured on Opacus 1.6),
#: and time and memory follow: the demo's 10 rounds (200 steps, ε 8) take 0.3 s, 1,000 such
#: rounds 60 s, 10,000 exhaust memory. Above settings·ε_RDP·√steps = 2,500 (about two million
#: points, 1-3 s) the report skips it with a note.
PRV_MAX_WORK = 2_500.0


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


def _prv(merged: list[Entry], delta: float) -> float | BaseException:
    """PRV ε of ``merged`` (no fallback), or the exception it failed with."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy overflow in PRV's far tails
            return float(make_accountant(merged, "prv").get_epsilon(delta=delta))
    except (ArithmeticError, MemoryError, RuntimeError, ValueError) as exc:
        return exc


def _failed(result: float | BaseException) -> str | None:
    if isinstance(result, BaseException):
        return f"the PRV accountant failed on this history ({type(result).__name__}: {result})"
    if not math.isfinite(result):
        return f"the PRV accountant failed on this history (ε = {result})"
    return None


def _epsilons(merged: list[Entry], s: LedgerSettings) -> tuple[float, dict[str, Any]]:
    """The guard's ε and ``epsilon_by_accountant`` for one composed history."""
    rdp = epsilon(merged, delta=s.delta, accountant="rdp", relation=s.relation)
    prv: float | None = None
    note: str | None = None
    if s.relation == "replace_one":
        guard = rdp
        note = "not available: Opacus' PRV accountant analyses add/remove only; the RDP bound holds"
    elif s.accountant == "prv":  # the guard's own value: computed whatever it costs
        result = _prv(merged, s.delta) if merged else 0.0
        note = _failed(result)
        # accounting.epsilon falls back to the RDP bound when PRV raises, and so did the guard.
        guard = rdp if isinstance(result, BaseException) else result
        if note is None:
            prv = guard
        else:
            note += "; ε is the RDP bound (also valid), as in the budget guard"
    else:
        guard = rdp
        work = len(merged) * rdp * math.sqrt(sum(steps for _, _, steps in merged))
        if work > PRV_MAX_WORK:
            note = (
                f"not computed: PRV would be too slow on this history (settings·ε_RDP·√steps "
                f"= {work:.0f} > {PRV_MAX_WORK:.0f}); the RDP bound holds"
            )
        else:
            result = _prv(merged, s.delta) if merged else 0.0
            note = _failed(result)
            prv = result if note is None and isinstance(result, float) else None
    by_accountant = {
        name: {
            "epsilon": value,
            "budget_guard": name == s.accountant,
            "method": ACCOUNTANT_METHODS[method],
            "note": n,
        }
        for name, method, value, n in (
            ("rdp", "rdp_replace_one" if s.relation == "replace_one" else "rdp", rdp, None),
            ("prv", "prv", prv, note),
        )
    }
    return guard, by_accountant


def _round(r: RoundRecord, released: set[int]) -> dict[str, Any]:
    status = _STATUS.get(r.status, UNFINISHED)  # unknown states never read as done
    if status == FINISHED and r.round in released:
        status = RELEASED
    return {
        "round": r.round,
        "time_utc": r.time_utc,
        "status": status,
        "noise_multiplier": r.noise_multiplier,
        "sample_rate": r.sample_rate,
        "steps": r.steps,
        "max_grad_norm": r.max_grad_norm,
        "epsilon": r.epsilon,
    }


def _silo_report(path: Path, cache: dict[Any, tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    with PrivacyLedger.read(path) as ledger:
        s = ledger.settings
        rounds = ledger.rounds()
        refusals = ledger.refusals()
        changes = ledger.budget_changes()
        released = ledger.released_rounds()
    # begun-but-unfinished rows count with their planned steps (the ledger's crash rule).
    merged = compose((r.noise_multiplier, r.sample_rate, r.steps) for r in rounds)
    key = (tuple(merged), s.delta, s.accountant, s.relation)  # the demo's silos share one
    if key not in cache:
        cache[key] = _epsilons(merged, s)
    guard, by_accountant = cache[key]
    by_relation = {
        relation: by_accountant["rdp"]["epsilon"]
        if relation == s.relation
        else epsilon(merged, delta=s.delta, accountant="rdp", relation=relation)
        for relation in RELATIONS
    }
    return {
        "silo": s.silo,
        "privacy_unit": PRIVACY_UNIT,
        "neighbouring_relation": RELATIONS[s.relation],
        "relation": s.relation,
        "epsilon_rdp_by_relation": by_relation,
        "delta": s.delta,
        "accountant": s.accountant,
        "epsilon": guard,
        "epsilon_by_accountant": by_accountant,
        "epsilon_budget": s.epsilon_budget,
        "rounds": [_round(r, released) for r in rounds],
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
    """The report as a JSON-ready dict: ``{"format", "round_statuses", "silos": [...]}``.

    Each per-silo object has ``silo, privacy_unit, neighbouring_relation, relation,
    epsilon_rdp_by_relation, delta, accountant, epsilon, epsilon_by_accountant, epsilon_budget,
    rounds, refusals, budget_changes, budget_raised``. ``relation`` is the ledger's
    (``"add_remove"`` or ``"replace_one"``; ``neighbouring_relation`` words it);
    ``epsilon_rdp_by_relation`` gives the RDP ε of the same rounds under each relation.
    ``accountant`` and ``epsilon`` are the budget guard's; ``epsilon_by_accountant`` maps
    ``"rdp"`` and ``"prv"`` to ``{epsilon, budget_guard, method, note}`` (``epsilon`` is None,
    with a note, when PRV was skipped, failed or does not apply to the relation). Each round has
    ``round`` (the deployment's round id), ``status`` (``"finished"`` or ``"begun, not
    finished"``, explained in ``round_statuses``), ``time_utc, noise_multiplier, sample_rate,
    steps, max_grad_norm, epsilon`` (ε after the round); each budget change has ``time_utc,
    old_budget, new_budget, increase``. A silo that never trained has ``rounds == []``.
    """
    cache: dict[Any, tuple[float, dict[str, Any]]] = {}
    return {
        "format": _FORMAT,
        "round_statuses": ROUND_STATUSES,
        "silos": [_silo_report(p, cache) for p in find_ledgers(state_dir)],
    }


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
    from fedseal.dp.report_html import render_html  # it imports this module's constants

    report = privacy_report(state_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
