"""``fedseal audit verify``, and the pinning options every review command shares.

``--key`` (a hex key or a key file), ``--witness FILE`` (repeatable) and ``--roster
server.toml`` are read here; ``verify`` prints warnings to standard error and the summary to
standard output, and exits 0, 1 or 3 (``docs/audit-format.md`` §11 step 6). Standard library
only at import time: the handlers import the rest.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["load_key", "verify_command", "witness_files"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def load_key(spec: str) -> IdentityPublicKey:
    """``--key``: 64 hex digits, or a file holding 32 raw bytes or 64 hex digits."""
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


def witness_files(paths: list[str]) -> tuple[list[Any], list[str]]:
    """``--witness`` files: their checkpoints (with sources) and a warning per ignored line."""
    from fedseal.audit.witness import read_witnesses

    found: list[Any] = []
    warnings: list[str] = []
    for path in paths:
        items, notes = read_witnesses(path)
        found.extend(items)
        warnings.extend(notes)
    return found, warnings


def _roster(path: str) -> tuple[Any, float, list[str]]:
    """``--roster``: ``(roster, corruption, warnings)`` from a ``server.toml``."""
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


def verify_command(args: argparse.Namespace) -> int:
    """``fedseal audit verify``: one log, or every log of ``--deployment``."""
    from fedseal.errors import ConfigError

    if (args.log is None) == (args.deployment is None):
        raise ConfigError("give either LOG or --deployment DIR")
    key = load_key(args.key) if args.key else None
    witnesses, warnings = witness_files(args.witness)
    if args.deployment:
        return _verify_deployment(args, key, witnesses, warnings)
    from fedseal.audit.roster import default_quorum
    from fedseal.audit.verify import verify_log

    roster, quorum = None, args.quorum
    if not args.roster and (args.quorum is not None or args.strict):
        # Without a roster no co-signer is counted, so these would silently do nothing.
        raise ConfigError("--quorum and --strict need --roster server.toml (or --deployment)")
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
