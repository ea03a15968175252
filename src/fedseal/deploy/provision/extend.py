"""Planning new silos (or a Paillier key) for an existing deployment: :func:`plan_extend`.

Adding silos grows the roster ``N`` that every party's round policy is computed from. In
``server.toml`` and every local ``silo.toml``, a ``min_participants`` still at the old roster's
default is raised to the new roster's default (:func:`fedseal.deploy.layout.grow_roster`); a
value the operator chose is kept and reported in the notes. New silos get the server's
(updated) round policy. A silo whose folder is not here must be updated at its site: the new
silos in ``[identities]`` and the new ``min_participants`` (the notes say which value).
Existing configs are rewritten keeping the operator's values (not their comments); existing keys
and certificates are never touched.

A threshold Paillier key is dealt when asked for, or when a Paillier deployment takes new silos
with ``redeal_paillier`` (its files then get versioned names, so the previous key's files are
never overwritten). A Paillier deployment refuses new silos without ``redeal_paillier``: the
dealt key has a fixed ``n``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedseal.config import load_server_config, load_silo_config
from fedseal.config.common import POLICY_KEYS
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.layout import (
    MANIFEST,
    fit_modulus,
    grow_roster,
    read_manifest,
    read_raw,
    silo_document,
)
from fedseal.deploy.provision.checks import validate
from fedseal.deploy.provision.create import certified, dealt, paillier_files, party_files
from fedseal.deploy.provision.plan import (
    AuditEntry,
    ConfigFile,
    Deal,
    Folder,
    Found,
    Issue,
    NewFile,
    Outcome,
    Plan,
    Ref,
)
from fedseal.deploy.provision.request import PaillierRequest, Request, check_request
from fedseal.deploy.provision.result import ProvisionResult
from fedseal.deploy.provision.writing import apply
from fedseal.errors import ConfigError

__all__ = ["extend", "plan_extend"]


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def plan_extend(request: Request) -> Plan:
    """Plan adding the requested silos that ``request.root`` does not have yet; deal if asked.

    Reads ``deployment.toml``, ``server.toml``, the server's identity key (for its public key)
    and every local ``silo.toml``; writes nothing and generates no key.

    Parameters
    ----------
    request
        What was asked for; a host or port, if given, must be the deployment's.

    Returns
    -------
    Plan
        With ``found`` set; without any action when every silo exists and no key is dealt.

    Raises
    ------
    ConfigError
        If the request is invalid, or an existing file cannot be read; everything else is
        :func:`~fedseal.deploy.provision.checks.validate`'s to refuse.
    """
    names = check_request(request)
    root, paillier = request.root, request.paillier
    manifest = read_manifest(root / MANIFEST)
    server_toml = root / "server" / "server.toml"
    server = load_server_config(server_toml)
    added = [n for n in names if n not in server.identities]
    has_key = server.paillier_public_key is not None
    deal_key = paillier.redeal or (paillier.deal and not has_key)
    server_hex = load_identity_key(server.identity_key).public_key.to_bytes().hex()
    local: dict[str, tuple[str, str]] = {}
    rosters: dict[str, int] = {}
    for name in server.silos:
        path = root / "silos" / name / "silo.toml"
        if path.exists():
            silo = load_silo_config(path)
            local[name], rosters[name] = (silo.deployment_id, silo.silo), len(silo.identities)
    found = Found(manifest=manifest, server=server, local=local)
    plan = Plan(
        request=request,
        names=names,
        host=manifest["host"],
        port=manifest["port"],
        now=datetime.now(UTC),
        found=found,
        outcome=Outcome(
            ca_cert=root / "ca" / "ca.crt",
            server_config=server_toml,
            server_key=server.identity_key,
            server_identity=server_hex,
            identities=dict(server.identities),
            added=(),
            existing=tuple(sorted(n for n in names if n in server.identities)),
            not_updated=tuple(n for n in server.silos if n not in local),
            audit_log=server.audit_log,
        ),
    )
    if not (added or deal_key):
        return plan
    new: dict[str, str | Ref] = {n: Ref("identity", n) for n in added}
    identities = dict(sorted((dict(server.identities) | new).items()))
    raw_server, docs, raw_silos, notes = _documents(plan, found, added, identities, rosters)
    deal = None
    if deal_key:
        deal = Deal(
            holders=tuple(sorted(n for n in identities if n not in server.revoked)),
            bits=paillier.bits,
            allow_insecure=paillier.allow_insecure,
            versioned=has_key,
            notify=paillier.notify,
        )
        deal.point(raw_server, silo=False)
        if not has_key:
            raw_server["aggregation"] = "paillier"
        for name, doc in [*docs.items(), *raw_silos.items()]:
            if name in deal.holders:
                deal.point(doc, silo=True)
    return _actions(
        replace(
            plan,
            deal=deal,
            outcome=replace(
                plan.outcome, identities=identities, added=tuple(sorted(added)), notes=notes
            ),
        ),
        found,
        added,
        raw_server,
        docs,
        raw_silos,
    )


def _documents(
    plan: Plan,
    found: Found,
    added: list[str],
    identities: dict[str, str | Ref],
    rosters: dict[str, int],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]], tuple[str, ...]]:
    """``server.toml`` and the local ``silo.toml`` files as rewritten, the new silos' configs.

    The roster grew: each file's round policy follows it (:func:`grow_roster`); the new silos
    get the server's. Returns the documents and the notes for the operator.
    """
    server, manifest = found.server, found.manifest
    deployment, server_hex = plan.request.deployment, str(plan.outcome.server_identity)
    raw_server = read_raw(plan.outcome.server_config)
    raw_server |= {"silos": list(identities), "identities": identities}
    notes = fit_modulus(raw_server)
    grown = [grow_roster(raw_server, len(server.silos), len(identities), "server.toml")]
    policy = {key: raw_server[key] for key in POLICY_KEYS if key in raw_server}
    docs = {
        n: silo_document(deployment, n, manifest, server_hex, identities) | policy for n in added
    }
    silo_dir = plan.root / "silos"
    raw_silos = {n: read_raw(silo_dir / n / "silo.toml") for n in found.local}
    raw_silos = {n: doc | {"identities": identities} for n, doc in raw_silos.items()}
    for name, doc in raw_silos.items():
        grown.append(grow_roster(doc, rosters[name], len(identities), f"silos/{name}/silo.toml"))
    away = [n for n in server.silos if n not in found.local]
    minimum = policy.get("min_participants")
    if away and minimum != server.min_participants:
        grown.append(
            f"the silo.toml of {', '.join(away)} is not here: at its site, also set "
            f"min_participants = {minimum}, as in server.toml"
        )
    return raw_server, docs, raw_silos, notes + tuple(note for note in grown if note)


def _actions(
    plan: Plan,
    found: Found,
    added: list[str],
    raw_server: dict[str, Any],
    docs: dict[str, dict[str, Any]],
    rewrites: dict[str, dict[str, Any]],
) -> Plan:
    """``plan`` with the keys to issue and the files, configs and audit entries to write."""
    from fedseal.audit import events

    server, deployment = found.server, plan.request.deployment
    server_toml, silo_dir = plan.outcome.server_config, plan.root / "silos"
    folders = [Folder(silo_dir, "plain")]
    files: list[NewFile] = []
    configs = []
    issue: list[Issue] = []
    for name in added:
        folders += [Folder(silo_dir / name), Folder(silo_dir / name / "state")]
        files += party_files(silo_dir / name, name, "silo")
        issue += [Issue("tls", name), Issue("identity", name)]
        path, check = silo_dir / name / "silo.toml", f"silos/{name}/silo.toml"
        configs.append(ConfigFile(path=path, doc=docs[name], what=f"silo {name!r}", check=check))
    if plan.deal is not None:
        holders = {n: silo_dir / n for n in plan.deal.holders}
        files += paillier_files(server_toml.parent, holders, plan.deal)
    for name, doc in rewrites.items():
        path = silo_dir / name / "silo.toml"
        configs.append(
            ConfigFile(path=path, doc=doc, what=f"silo {name!r}", previous=_digest(path))
        )
    configs.append(
        ConfigFile(path=server_toml, doc=raw_server, what="server", previous=_digest(server_toml))
    )
    audit = [certified(deployment, "silo_certified", n, n) for n in added]
    if added:
        change: dict[str, object] = {"setting": "silos", "old": list(server.silos)}
        change["new"] = list(raw_server["identities"])
        audit.append(AuditEntry(event=events.CONFIG_CHANGED, details=change))
    minimum = raw_server.get("min_participants")
    if minimum != server.min_participants:
        change = {"setting": "min_participants", "old": server.min_participants, "new": minimum}
        audit.append(AuditEntry(event=events.CONFIG_CHANGED, details=change))
    if plan.deal is not None:
        audit.append(dealt(deployment, plan.deal))
    return replace(
        plan,
        issue=tuple(issue),
        folders=tuple(folders),
        files=tuple(files),
        configs=tuple(configs),
        audit=tuple(audit),
    )


def extend(
    root: Path,
    deployment: str,
    names: list[str],
    host: str | None,
    port: int | None,
    paillier: PaillierRequest,
) -> ProvisionResult:
    """Add ``names`` not yet provisioned to the deployment in ``root``; deal a key if asked.

    ``apply(validate(plan_extend(...)))``.

    Raises
    ------
    ConfigError
        As :func:`fedseal.deploy.provision.provision` documents.
    """
    request = Request(
        root=root,
        deployment=deployment,
        silos=tuple(names),
        host=host,
        port=port,
        paillier=paillier,
    )
    return apply(validate(plan_extend(request)))
