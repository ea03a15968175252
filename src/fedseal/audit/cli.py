"""``fedseal audit verify|show|export|report|repair``: check and read audit logs.

Imports only the standard library at import time (handlers import the rest), so that
``fedseal --help`` stays fast. Exit status of ``verify``: 0 if the log verifies, 1 if an entry
does not (the first bad ``seq`` and why are printed), 3 if only a torn last line is wrong.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["register"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def register(subparsers: Any) -> None:
    """Add the ``audit`` command and its sub-commands to a ``fedseal`` sub-parser set."""
    audit = subparsers.add_parser("audit", help="verify, show, export and report audit logs")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("verify", help="verify a log: hash chain, Merkle roots, signatures")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--key", metavar="PUBKEY", help="pinned Ed25519 public key: hex or a file")
    p.add_argument(
        "--witness",
        metavar="FILE",
        action="append",
        default=[],
        help="a witness store or another log whose checkpoints this log must contain (repeatable)",
    )
    p.set_defaults(handler=_verify)

    p = sub.add_parser("show", help="print entries as an aligned table")
    p.add_argument("log", metavar="LOG")
    _add_filters(p)
    p.set_defaults(handler=_show)

    p = sub.add_parser("export", help="export entries as CSV or JSON Lines")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--format", choices=("csv", "jsonl"), required=True)
    p.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    _add_filters(p)
    p.set_defaults(handler=_export)

    p = sub.add_parser("report", help="write an HTML compliance trail")
    p.add_argument("logs", metavar="LOG", nargs="+")
    p.add_argument("--out", metavar="DIR", required=True)
    p.set_defaults(handler=_report)

    p = sub.add_parser("repair", help="cut a torn last line and record the repair")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--party", help="the log's party, if no complete entry survives")
    p.set_defaults(handler=_repair)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", type=int, metavar="R")
    p.add_argument("--event", metavar="E")
    p.add_argument("--party", metavar="P")
    p.add_argument("--since", metavar="T", help="RFC 3339 time, e.g. 2025-01-31T12:00:00Z")


def _load_key(spec: str) -> IdentityPublicKey:
    from fedseal.errors import ConfigError
    from fedseal.secagg.identity import IdentityPublicKey

    if _HEX64.fullmatch(spec.strip()):
        return IdentityPublicKey(bytes.fromhex(spec.strip()))
    try:
        raw = Path(spec).read_bytes()
    except OSError as exc:
        raise ConfigError(f"--key is neither 64 hex digits nor a readable file: {spec}") from exc
    if len(raw) == 32:
        return IdentityPublicKey(raw)
    text = raw.decode("ascii", errors="replace").strip()
    if not _HEX64.fullmatch(text):
        raise ConfigError(f"{spec}: expected a 32-byte key or 64 hex digits")
    return IdentityPublicKey(bytes.fromhex(text))


def _verify(args: argparse.Namespace) -> int:
    from fedseal.audit.verify import verify_log
    from fedseal.audit.witness import load_checkpoints

    key = _load_key(args.key) if args.key else None
    witnesses = [cp for path in args.witness for cp in load_checkpoints(path)]
    report = verify_log(args.log, key=key, witnesses=witnesses)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())
    return report.exit_status


def _selected(args: argparse.Namespace) -> list[Any]:
    from fedseal.audit.export import filter_entries, read_entries

    entries, skipped = read_entries(args.log)
    if skipped:
        print(f"warning: skipped {skipped} malformed or torn line(s)", file=sys.stderr)
    return filter_entries(
        entries, round=args.round, event=args.event, party=args.party, since=args.since
    )


def _show(args: argparse.Namespace) -> int:
    from fedseal.audit.export import format_table

    print(format_table(_selected(args)))
    return 0


def _export(args: argparse.Namespace) -> int:
    from fedseal.audit.export import write_csv, write_jsonl

    entries = _selected(args)
    if args.format == "csv":
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                write_csv(entries, out)
        else:
            write_csv(entries, sys.stdout)
    elif args.out:
        with open(args.out, "wb") as bout:
            write_jsonl(entries, bout)
    else:
        sys.stdout.flush()
        write_jsonl(entries, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return 0


def _report(args: argparse.Namespace) -> int:
    from fedseal.audit.report import write_report

    print(write_report(args.logs, args.out))
    return 0


def _repair(args: argparse.Namespace) -> int:
    from fedseal.audit.repair import repair_log

    result = repair_log(args.log, party=args.party)
    if result is None:
        print("nothing to repair: the log has no torn last line")
        return 0
    print(
        f"cut {result.cut_bytes} torn bytes (sha256 {result.cut_sha256}); "
        f"recorded as seq {result.entry.seq} ({result.entry.event})"
    )
    return 0
