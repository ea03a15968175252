"""``fedseal privacy report --state DIR --out OUT``: privacy report of a silo or a deployment.

Imports only the standard library at import time; the report (sqlite, Opacus, matplotlib) is
imported inside the handler so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``privacy`` command (sub-command ``report``) to the ``fedseal`` parser."""
    privacy = subparsers.add_parser(
        "privacy", help="differential-privacy ledgers: reports of ε spent per silo"
    )
    sub = privacy.add_subparsers(dest="privacy_command", required=True, metavar="SUBCOMMAND")
    report = sub.add_parser(
        "report",
        help="write privacy-report.json and privacy-report.html",
        description=(
            "Read the privacy ledger(s) under --state (a silo state directory holding "
            "privacy-ledger.sqlite3, or a deployment directory with silos/<name>/) and write "
            "privacy-report.json and privacy-report.html into --out."
        ),
    )
    report.add_argument("--state", required=True, metavar="DIR", help="silo or deployment dir")
    report.add_argument("--out", required=True, metavar="OUT", help="output directory")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from fedseal.extras import require

    require("dp")  # Opacus' accountants and matplotlib's plot
    from fedseal.dp.report import write_privacy_report

    json_path, html_path = write_privacy_report(args.state, args.out)
    print(json_path)
    print(html_path)
    return 0
