"""``fedseal audit show|export|report|repair``: review tools that verify first.

``show``, ``export`` and ``report`` verify each log (``docs/audit-format.md`` §11.2) with the
pinning options of :mod:`fedseal.audit.cli_verify` before presenting anything, mark every entry
from the first unverified ``seq`` on, and exit 1 if a log does not verify. Standard library
only at import time: the handlers import the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fedseal.audit.cli_verify import load_key, witness_files

__all__ = ["export_command", "repair_command", "report_command", "show_command"]


def _sources(args: argparse.Namespace, specs: list[str]) -> tuple[list[Any], Any, list[str]]:
    """Verify the logs to review: ``(sources, plan or None, warnings)``.

    With ``--deployment``, ``specs`` name logs of it (by path or party; none: all); keys,
    roster and witness stores come from the layout, ``--key``/``--witness`` as for ``verify``.
    """
    from fedseal.audit.compliance_evidence import LogSource
    from fedseal.audit.review import review_deployment, review_log
    from fedseal.errors import ConfigError

    key = load_key(args.key) if args.key else None
    witnesses, warnings = witness_files(args.witness)
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


def show_command(args: argparse.Namespace) -> int:
    """``fedseal audit show``: verify, then print the entries as a table."""
    from fedseal.audit.export import format_table

    reviewed, entries = _reviewed(args)
    bad = reviewed.unverified()
    lines = format_table(entries).split("\n")
    for i, entry in enumerate(entries, start=1):
        if id(entry) in bad:
            lines[i] = "UNVERIFIED " + lines[i]
    print("\n".join(lines))
    return 0 if reviewed.ok else 1


def export_command(args: argparse.Namespace) -> int:
    """``fedseal audit export``: verify, then write CSV or JSON Lines."""
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


def report_command(args: argparse.Namespace) -> int:
    """``fedseal audit report``: verify, then write the HTML trail (and the compliance pack)."""
    from fedseal.audit.report import write_report

    sources, plan, warnings = _sources(args, list(args.logs))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for item in sources:
        banner = item.reviewed.banner()
        if banner:
            print(f"{item.path}: {banner}", file=sys.stderr)
    witness_paths = [*(str(w) for w in (plan.witness_files if plan else [])), *args.witness]
    paths = [s.path for s in sources]
    reviewed = [s.reviewed for s in sources]
    print(write_report(paths, args.out, reviewed=reviewed, witness_files=witness_paths))
    if args.compliance or args.compliance_html or args.compliance_json:
        from fedseal.audit.compliance import build_pack, write_pack

        pack = build_pack(
            sources,
            server=plan.server if plan else None,
            silos=plan.silos if plan else None,
            deployment=plan.root if plan else None,
            warnings=warnings,
            witness_files=witness_paths,
        )
        out = Path(args.out)
        html_path = args.compliance_html or out / "compliance.html"
        json_path = args.compliance_json or out / "compliance.json"
        for path in write_pack(pack, html_path, json_path):
            print(path)
        if not pack["verification"]["all_verified"]:
            print("compliance pack: NOT every log verifies (marked in the pack)", file=sys.stderr)
    return 0 if sources and all(s.reviewed.ok for s in sources) else 1


def repair_command(args: argparse.Namespace) -> int:
    """``fedseal audit repair``: cut a torn last line and record the cut."""
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
