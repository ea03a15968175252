"""``fedseal audit verify|show|export|report|repair``: check and read audit logs.

Imports only the standard library at import time (handlers import the rest), so that
``fedseal --help`` stays fast. Exit status of ``verify``: 0 if the log verifies, 1 if an entry
does not (the first bad ``seq`` and why are printed), 3 if only a torn last line is wrong.

``show``, ``export`` and ``report`` verify first, with the same ``--key``, ``--witness`` and
``--deployment`` as ``verify`` (with ``--deployment DIR``, keys, roster and witness stores come
from the provisioned layout and a log is named by its path or its party; ``show`` and
``export`` default to the server's log, ``report`` to every log). ``report --compliance`` also
writes the compliance evidence pack (``compliance.html`` and ``compliance.json`` beside
``index.html``, or to ``--compliance-html`` / ``--compliance-json``).
If the log does not verify they print ``UNVERIFIED from seq N: <reason>`` to standard error,
mark every entry from seq N on as unverified (``show``: an ``UNVERIFIED`` prefix; ``export``: a
``verified`` column, or ``"verified": false`` in JSON Lines; ``report``: marked cells), and exit
with status 1. A torn last line alone is a warning (exit 0): every complete entry verified.
"""

from __future__ import annotations

import argparse
from typing import Any

from fedseal.audit.cli_review import export_command, repair_command, report_command, show_command
from fedseal.audit.cli_verify import verify_command

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``audit`` command and its sub-commands to a ``fedseal`` sub-parser set."""
    audit = subparsers.add_parser("audit", help="verify, show, export and report audit logs")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("verify", help="verify a log: hash chain, Merkle roots, signatures")
    p.add_argument("log", metavar="LOG", nargs="?", help="the log (or use --deployment)")
    p.add_argument(
        "--deployment",
        metavar="DIR",
        help="verify every log of a provisioned deployment folder, keys and witnesses from it",
    )
    p.add_argument(
        "--roster", metavar="TOML", help="server.toml: co-signers must be its [identities]"
    )
    p.add_argument("--quorum", type=int, metavar="N", help="co-signers per checkpoint (default t)")
    p.add_argument("--strict", action="store_true", help="under-witnessed checkpoints fail")
    _add_pinning(p)
    p.set_defaults(handler=verify_command)

    p = sub.add_parser("show", help="verify, then print entries as an aligned table")
    p.add_argument("log", metavar="LOG", nargs="?", help="the log (with --deployment: or a party)")
    _add_filters(p)
    _add_pinning(p)
    _add_deployment(p)
    p.set_defaults(handler=show_command)

    p = sub.add_parser("export", help="verify, then export entries as CSV or JSON Lines")
    p.add_argument("log", metavar="LOG", nargs="?", help="the log (with --deployment: or a party)")
    p.add_argument("--format", choices=("csv", "jsonl"), required=True)
    p.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    _add_filters(p)
    _add_pinning(p)
    _add_deployment(p)
    p.set_defaults(handler=export_command)

    p = sub.add_parser("report", help="verify, then write an HTML compliance trail")
    p.add_argument(
        "logs", metavar="LOG", nargs="*", help="the logs (default with --deployment: all)"
    )
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument(
        "--compliance",
        action="store_true",
        help="also write the compliance evidence pack (GDPR Art. 30, HIPAA, EU AI Act Art. 12)",
    )
    p.add_argument("--compliance-html", metavar="FILE", help="the pack's HTML (default OUT/...)")
    p.add_argument("--compliance-json", metavar="FILE", help="the pack's JSON (default OUT/...)")
    _add_pinning(p)
    _add_deployment(p)
    p.set_defaults(handler=report_command)

    p = sub.add_parser("repair", help="cut a torn last line and record the repair")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--party", help="the log's party, if no complete entry survives")
    p.set_defaults(handler=repair_command)


def _add_pinning(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", metavar="PUBKEY", help="pinned Ed25519 public key: hex or a file")
    p.add_argument(
        "--witness",
        metavar="FILE",
        action="append",
        default=[],
        help="a witness store or another log whose checkpoints this log must contain (repeatable)",
    )


def _add_deployment(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--deployment",
        metavar="DIR",
        help="a provisioned deployment folder: keys, roster and witness stores from its layout",
    )
    p.add_argument("--quorum", type=int, metavar="N", help="co-signers per checkpoint (default t)")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", type=int, metavar="R")
    p.add_argument("--event", metavar="E")
    p.add_argument("--party", metavar="P")
    p.add_argument("--since", metavar="T", help="RFC 3339 time, e.g. 2025-01-31T12:00:00Z")
