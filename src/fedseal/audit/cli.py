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
    p.set_defaults(handler=_verify)

    p = sub.add_parser("show", help="verify, then print entries as an aligned table")
    p.add_argument("log", metavar="LOG", nargs="?", help="the log (with --deployment: or a party)")
    _add_filters(p)
    _add_pinning(p)
    _add_deployment(p)
    p.set_defaults(handler=_show)

    p = sub.add_parser("export", help="verify, then export entries as CSV or JSON Lines")
    p.add_argument("log", metavar="LOG", nargs="?", help="the log (with --deployment: or a party)")
    p.add_argument("--format", choices=("csv", "jsonl"), required=True)
    p.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    _add_filters(p)
    _add_pinning(p)
    _add_deployment(p)
    p.set_defaults(handler=_export)

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
    p.set_defaults(handler=_report)

    p = sub.add_parser("repair", help="cut a torn last line and record the repair")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--party", help="the log's party, if no complete entry survives")
    p.set_defaults(handler=_repair)


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


def _witnesses(paths: list[str]) -> tuple[list[Any], list[str]]:
    from fedseal.audit.witness import read_witnesses

    found: list[Any] = []
    warnings: list[str] = []
    for path in paths:
        items, notes = read_witnesses(path)
        found.extend(items)
        warnings.extend(notes)
    return found, warnings


def _roster(path: str) -> tuple[Any, float, list[str]]:
    import tomllib

    from fedseal.audit.roster import parse_roster
    from fedseal.errors import ConfigError

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--roster {path}: cannot read a TOML file ({exc})") from None
    roster, warnings = parse_roster(data.get("identities", {}))
    corruption = data.get("corruption", 0.05)
    ok = isinstance(corruption, int | float) and 0 <= corruption < 0.5
    return roster, float(corruption) if ok else 0.05, warnings


def _verify(args: argparse.Namespace) -> int:
    from fedseal.errors import ConfigError

    if (args.log is None) == (args.deployment is None):
        raise ConfigError("give either LOG or --deployment DIR")
    key = _load_key(args.key) if args.key else None
    witnesses, warnings = _witnesses(args.witness)
    if args.deployment:
        return _verify_deployment(args, key, witnesses, warnings)
    from fedseal.audit.roster import default_quorum
    from fedseal.audit.verify import verify_log

    roster, quorum = None, args.quorum
    if args.roster:
        roster, corruption, notes = _roster(args.roster)
        warnings.extend(notes)
        quorum = default_quorum(len(roster), corruption) if quorum is None else quorum
    report = verify_log(
        args.log, key=key, witnesses=witnesses, roster=roster, quorum=quorum, strict=args.strict
    )
    for warning in [*warnings, *report.warnings]:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())
    return report.exit_status


def _verify_deployment(
    args: argparse.Namespace, key: Any, witnesses: list[Any], warnings: list[str]
) -> int:
    from fedseal.audit.deployment import verify_deployment

    results, notes = verify_deployment(
        args.deployment,
        quorum=args.quorum,
        strict=args.strict,
        key=key,
        extra_witnesses=witnesses,
    )
    for warning in [*warnings, *notes]:
        print(f"warning: {warning}", file=sys.stderr)
    status = 0
    for result in results:
        for warning in result.warnings:
            print(f"warning: {result.party}: {warning}", file=sys.stderr)
        report = result.report
        if report is None:
            print(f"{result.party}: {result.path}: not checked (missing)")
            continue
        for warning in report.warnings:
            print(f"warning: {result.party}: {warning}", file=sys.stderr)
        lines = report.summary().splitlines()
        if report.quorum is not None:
            signed = report.checkpoints_valid - len(report.under_witnessed)
            quorum = f"co-signed by quorum {report.quorum}"
            lines[-1] += f", {signed}/{report.checkpoints_valid} {quorum}"
        verdict = "OK" if report.ok else "INVALID"
        print(f"{result.party}: {verdict}: {result.path}: " + "; ".join(lines))
        status = max(status, report.exit_status)
    return status


def _sources(args: argparse.Namespace, specs: list[str]) -> tuple[list[Any], Any, list[str]]:
    """Verify the logs to review: ``(sources, plan or None, warnings)``.

    With ``--deployment``, ``specs`` name logs of it (by path or party; none: all); keys,
    roster and witness stores come from the layout, ``--key``/``--witness`` as for ``verify``.
    """
    from fedseal.audit.compliance_evidence import LogSource
    from fedseal.audit.review import review_deployment, review_log
    from fedseal.errors import ConfigError

    key = _load_key(args.key) if args.key else None
    witnesses, warnings = _witnesses(args.witness)
    if args.deployment:
        plan, pairs = review_deployment(
            args.deployment, key=key, extra_witnesses=witnesses, quorum=args.quorum, only=specs
        )
        warnings.extend(plan.warnings)
        sources = [LogSource(p.party, p.path, r, p.key_source) for p, r in pairs]
        return sources, plan, warnings
    if not specs:
        raise ConfigError("give a LOG, or --deployment DIR")
    source = "--key" if key is not None else "not pinned"
    sources = []
    for spec in specs:
        reviewed = review_log(spec, key=key, witnesses=witnesses)
        party = reviewed.report.party or Path(spec).name
        sources.append(LogSource(party, Path(spec), reviewed, source))
    return sources, None, warnings


def _reviewed(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """Verify ``args.log`` under the pinning options; return it and the filtered entries."""
    from fedseal.audit.export import filter_entries
    from fedseal.errors import ConfigError

    specs = [args.log] if args.log else (["server"] if args.deployment else [])
    sources, _, warnings = _sources(args, specs)
    if not sources:
        raise ConfigError(f"{specs[0]}: the log could not be read")
    reviewed = sources[0].reviewed
    if args.key or args.witness or args.deployment:
        warnings.extend(reviewed.report.warnings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if reviewed.skipped:
        print(f"warning: skipped {reviewed.skipped} malformed or torn line(s)", file=sys.stderr)
    banner = reviewed.banner()
    if banner:
        print(banner, file=sys.stderr)
    selected = filter_entries(
        reviewed.entries, round=args.round, event=args.event, party=args.party, since=args.since
    )
    return reviewed, selected


def _show(args: argparse.Namespace) -> int:
    from fedseal.audit.export import format_table

    reviewed, entries = _reviewed(args)
    bad = reviewed.unverified()
    lines = format_table(entries).split("\n")
    for i, entry in enumerate(entries, start=1):
        if id(entry) in bad:
            lines[i] = "UNVERIFIED " + lines[i]
    print("\n".join(lines))
    return 0 if reviewed.ok else 1


def _export(args: argparse.Namespace) -> int:
    from fedseal.audit.export import write_csv, write_jsonl

    reviewed, entries = _reviewed(args)
    bad = reviewed.unverified()
    if args.format == "csv":
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                write_csv(entries, out, unverified=bad)
        else:
            write_csv(entries, sys.stdout, unverified=bad)
    elif args.out:
        with open(args.out, "wb") as bout:
            write_jsonl(entries, bout, unverified=bad)
    else:
        sys.stdout.flush()
        write_jsonl(entries, sys.stdout.buffer, unverified=bad)
        sys.stdout.buffer.flush()
    return 0 if reviewed.ok else 1


def _report(args: argparse.Namespace) -> int:
    from fedseal.audit.report import write_report

    sources, plan, warnings = _sources(args, list(args.logs))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for item in sources:
        banner = item.reviewed.banner()
        if banner:
            print(f"{item.path}: {banner}", file=sys.stderr)
    witness_files = [*(str(w) for w in (plan.witness_files if plan else [])), *args.witness]
    paths = [s.path for s in sources]
    reviewed = [s.reviewed for s in sources]
    print(write_report(paths, args.out, reviewed=reviewed, witness_files=witness_files))
    if args.compliance or args.compliance_html or args.compliance_json:
        from fedseal.audit.compliance import build_pack, write_pack

        pack = build_pack(
            sources,
            server=plan.server if plan else None,
            silos=plan.silos if plan else None,
            deployment=plan.root if plan else None,
            warnings=warnings,
            witness_files=witness_files,
        )
        out = Path(args.out)
        html_path = args.compliance_html or out / "compliance.html"
        json_path = args.compliance_json or out / "compliance.json"
        for path in write_pack(pack, html_path, json_path):
            print(path)
        if not pack["verification"]["all_verified"]:
            print("compliance pack: NOT every log verifies (marked in the pack)", file=sys.stderr)
    return 0 if sources and all(s.reviewed.ok for s in sources) else 1


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
