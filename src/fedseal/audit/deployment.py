"""Verify every audit log of a provisioned deployment folder (``fedseal provision`` layout).

Reads ``server/server.toml`` and each ``silos/<name>/silo.toml`` with :mod:`tomllib` only
(``fedseal.audit`` must not import ``fedseal.config``): the roster is ``[identities]`` of
``server.toml``; the server's key is pinned to the ``server_identity`` the silos pinned; each
silo's witness store is ``<silo state_dir>/witnessed-checkpoints.jsonl``; each silo's own log
is checked against the checkpoints of it the server keeps (``<server state_dir>/silo-witness/
<silo>.jsonl``, sent with the silo's co-signatures), so a silo log truncated or emptied after a
round is detected. A silo folder that is not on this machine is a warning, not an error.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedseal.audit.gossip import Witnessed
from fedseal.audit.roster import default_quorum, parse_roster
from fedseal.audit.verify import VerifyReport, verify_bytes, verify_log
from fedseal.audit.witness import read_witnesses
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["DeploymentPlan", "LogPlan", "LogResult", "plan_deployment", "verify_deployment"]

WITNESS_STORE = "witnessed-checkpoints.jsonl"
#: Under the server's ``state_dir``: the silos' own checkpoints it keeps, one store per silo
#: (``fedseal.server.attestation.SILO_WITNESS``; audit may not import the server).
SILO_WITNESS = "silo-witness"


@dataclass(slots=True)
class LogResult:
    """One verified log: whose, where, and its report (``None`` if it could not be read)."""

    party: str
    path: Path
    report: VerifyReport | None
    warnings: list[str] = field(default_factory=list)


def _toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _path(base: Path, value: object, default: str) -> Path:
    return base / (value if isinstance(value, str) and value else default)


def _verify(party: str, path: Path, warnings: list[str], **kwargs: Any) -> LogResult:
    if not path.exists() and kwargs.get("witnesses"):
        # A deleted log is an emptied one: what its witnesses saw is gone, so it fails.
        report = verify_bytes(b"", **kwargs)[0]
        return LogResult(party, path, report, [*warnings, f"{path} is missing"])
    try:
        return LogResult(party, path, verify_log(path, **kwargs), warnings)
    except ConfigError as exc:
        return LogResult(party, path, None, [*warnings, str(exc)])


@dataclass(slots=True)
class LogPlan:
    """How one log of a deployment is verified: its party, file, pinned key and witnesses.

    ``roster`` and ``quorum`` are set for the server's log only (co-signers must be roster
    silos, at least ``quorum`` of them per checkpoint); ``key_source`` says where ``key`` came
    from, for reports.
    """

    party: str
    path: Path
    key: IdentityPublicKey | None
    witnesses: list[Witnessed]
    key_source: str
    roster: dict[str, IdentityPublicKey] | None = None
    quorum: int | None = None


@dataclass(slots=True)
class DeploymentPlan:
    """A deployment folder as read: its configs (raw TOML), its logs, and what was skipped."""

    root: Path
    server: dict[str, Any]
    silos: dict[str, dict[str, Any]]
    logs: list[LogPlan]
    witness_files: list[Path]
    warnings: list[str]


def plan_deployment(
    folder: str | os.PathLike[str],
    *,
    quorum: int | None = None,
    key: IdentityPublicKey | None = None,
    extra_witnesses: list[Witnessed] | None = None,
) -> DeploymentPlan:
    """Read a deployment folder: which logs to verify, under which keys and witnesses.

    Parameters are as for :func:`verify_deployment`; nothing is verified here.

    Raises
    ------
    ConfigError
        If ``server/server.toml`` is missing or not TOML.
    """
    root = Path(folder)
    server_dir = root / "server"
    server = _toml(server_dir / "server.toml")
    roster, warnings = parse_roster(server.get("identities", {}))
    corruption = server.get("corruption", 0.05)
    if not isinstance(corruption, int | float) or not 0 <= corruption < 0.5:
        warnings.append(f"server.toml corruption {corruption!r} is invalid; using 0.05")
        corruption = 0.05
    q = default_quorum(len(roster), float(corruption)) if quorum is None else quorum
    witnesses: list[Witnessed] = list(extra_witnesses or [])
    pinned: dict[IdentityPublicKey, list[str]] = {}
    silo_logs: list[tuple[str, Path]] = []
    silos: dict[str, dict[str, Any]] = {}
    stores: list[Path] = []
    for name in sorted(roster):
        silo_dir = root / "silos" / name
        try:
            silo = _toml(silo_dir / "silo.toml")
        except ConfigError as exc:
            warnings.append(f"silo {name}: {exc}; its log and witness store are not checked")
            continue
        silos[name] = silo
        try:
            server_key = IdentityPublicKey(bytes.fromhex(str(silo.get("server_identity"))))
            pinned.setdefault(server_key, []).append(name)
        except (ValueError, ConfigError):
            warnings.append(f"silo {name}: server_identity is not a 32-byte hex key")
        store = _path(silo_dir, silo.get("state_dir"), "state") / WITNESS_STORE
        try:
            found, notes = read_witnesses(store, f"silo {name}'s witness store")
            witnesses.extend(found)
            warnings.extend(notes)
            stores.append(store)
        except ConfigError as exc:
            warnings.append(f"silo {name}: {exc}")
        silo_logs.append((name, _path(silo_dir, silo.get("audit_log"), "audit.jsonl")))
    source = "--key"
    if key is None and len(pinned) == 1:
        key, source = next(iter(pinned)), "server_identity pinned in every silo.toml"
    elif key is None and pinned:
        who = "; ".join(f"{k.fingerprint()} by {', '.join(v)}" for k, v in pinned.items())
        warnings.append(f"silos pinned different server keys ({who}): server log unpinned")
    server_log = _path(server_dir, server.get("audit_log"), "audit.jsonl")
    logs = [
        LogPlan(
            "server",
            server_log,
            key,
            witnesses,
            source if key is not None else "not pinned",
            roster=roster,
            quorum=q,
        )
    ]
    # What the server keeps of each silo's own checkpoints (sent with its co-signatures): a
    # silo log truncated or emptied after a checkpoint it sent no longer contains it.
    held = _path(server_dir, server.get("state_dir"), "state") / SILO_WITNESS
    for name, path in silo_logs:
        kept: list[Witnessed] = []
        store = held / f"{name}.jsonl"
        if held.is_dir() and not store.exists():
            warnings.append(f"silo {name}: the server holds no witness store of its log ({store})")
        if store.exists():
            try:
                kept, notes = read_witnesses(store, f"the server's witness store of {name}")
                warnings.extend(notes)
                stores.append(store)
            except ConfigError as exc:
                warnings.append(f"silo {name}: {exc}")
        source = f"server.toml [identities] {name}"
        logs.append(LogPlan(name, path, roster[name], kept, source))
    return DeploymentPlan(root, server, silos, logs, stores, warnings)


def verify_deployment(
    folder: str | Path,
    *,
    quorum: int | None = None,
    strict: bool = False,
    key: IdentityPublicKey | None = None,
    extra_witnesses: list[Witnessed] | None = None,
) -> tuple[list[LogResult], list[str]]:
    """Verify the server's log and every silo's log of a deployment folder.

    Parameters
    ----------
    folder
        The folder ``fedseal provision --out`` created (or one with the same layout).
    quorum
        Roster co-signers each server checkpoint needs (default: the threshold ``t``).
    strict
        An under-witnessed checkpoint makes the server's log invalid.
    key
        Pin the server's log to this key instead of the silos' ``server_identity``.
    extra_witnesses
        More witnessed checkpoints for the server's log (``--witness``).

    Returns
    -------
    tuple
        ``(results, warnings)``: one result per log (server first), and deployment warnings.

    Raises
    ------
    ConfigError
        If ``server/server.toml`` is missing or not TOML.
    """
    plan = plan_deployment(folder, quorum=quorum, key=key, extra_witnesses=extra_witnesses)
    results = []
    for log in plan.logs:
        options: dict[str, Any] = {"key": log.key, "witnesses": log.witnesses}
        if log.roster is not None:
            options.update(roster=log.roster, quorum=log.quorum, strict=strict)
        results.append(_verify(log.party, log.path, [], **options))
    return results, plan.warnings
