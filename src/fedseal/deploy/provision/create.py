"""Planning a new deployment: :func:`plan_create`.

A create issues a CA, the server's TLS pair and identity key and each silo's, writes every
party's folder and config (the round policy alike in all of them, a 64-bit modulus when 32 bits
are too few for the roster) and, with ``paillier``, deals a threshold Paillier key to the silos.
With ``force_new`` an existing (or partial) deployment in the folder is moved aside first.
Planning only looks at which parts of a deployment the folder has; it writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedseal.deploy import pki
from fedseal.deploy.files import dumps_toml
from fedseal.deploy.layout import (
    FORMAT,
    MANIFEST,
    MANIFEST_HEADER,
    addresses,
    fit_modulus,
    server_document,
    silo_document,
)
from fedseal.deploy.provision.plan import (
    AuditEntry,
    ConfigFile,
    Deal,
    Folder,
    Issue,
    NewFile,
    Outcome,
    Plan,
    Ref,
)
from fedseal.deploy.provision.request import Request, check_request

__all__ = ["PARTS", "certified", "dealt", "paillier_files", "party_files", "plan_create"]

#: What makes a folder a deployment, or a partial one; ``force_new`` moves these aside.
PARTS = (MANIFEST, "ca", "server", "silos")


def party_files(folder: Path, party: str, tls_name: str) -> list[NewFile]:
    """A party's new files: the CA certificate, its TLS pair and its identity key."""
    return [
        NewFile(folder, "ca.crt", 0o644, Ref("ca.crt", "ca")),
        NewFile(folder, f"{tls_name}.crt", 0o644, Ref("tls.crt", party)),
        NewFile(folder, f"{tls_name}.key", 0o600, Ref("tls.key", party)),
        NewFile(folder, "identity.key", 0o600, Ref("identity.key", party)),
    ]


def paillier_files(server_dir: Path, holders: dict[str, Path], deal: Deal) -> list[NewFile]:
    """The dealt key's files: the public file for the server and each holder, each one's share."""
    public = Ref("paillier-public")
    files = [NewFile(server_dir, deal.public_name, 0o644, public)]
    for name in deal.holders:
        files.append(NewFile(holders[name], deal.public_name, 0o644, public))
        files.append(NewFile(holders[name], deal.share_name, 0o600, Ref("paillier-share", name)))
    return files


def certified(deployment: str, action: str, subject: str, holder: str) -> AuditEntry:
    """The audit entry of a certificate issued (and its holder's identity-key fingerprint)."""
    from fedseal.audit import events

    details: dict[str, Any] = {"action": action, "subject": subject, "deployment_id": deployment}
    details["cert_fingerprint"] = Ref("cert-fingerprint", holder)
    if holder != "ca":
        details["identity_fingerprint"] = Ref("identity-fingerprint", holder)
    return AuditEntry(event=events.PROVISIONING, details=details)


def dealt(deployment: str, deal: Deal) -> AuditEntry:
    """The audit entry of the dealt key: its id, size, threshold and share holders."""
    from fedseal.audit import events

    details: dict[str, Any] = {"action": "paillier_key_dealt", "subject": "paillier"}
    details |= {"deployment_id": deployment, "key_id": Ref("paillier-key-id")}
    details |= {"key_bits": Ref("paillier-key-bits"), "threshold": Ref("paillier-threshold")}
    details["parties"] = sorted(deal.holders)
    return AuditEntry(event=events.PROVISIONING, details=details)


def plan_create(request: Request) -> Plan:
    """Plan a new deployment in ``request.root``.

    Parameters
    ----------
    request
        What was asked for; host and port default to ``127.0.0.1`` and ``50051``.

    Returns
    -------
    Plan
        With ``found`` None. Nothing is written, and no key is generated.

    Raises
    ------
    ConfigError
        If the request itself is invalid (:func:`~fedseal.deploy.provision.plan.check_request`);
        everything else is :func:`~fedseal.deploy.provision.checks.validate`'s to refuse.
    """
    names = check_request(request)
    root, deployment, paillier = request.root, request.deployment, request.paillier
    host, port = request.host or "127.0.0.1", request.port or 50051
    now = datetime.now(UTC)
    manifest = {"format": FORMAT, "deployment_id": deployment, "host": host, "port": port}
    manifest["created"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    identities: dict[str, object] = {n: Ref("identity", n) for n in names}
    server_doc = server_document(deployment, addresses(host, port)[0], identities)
    notes = fit_modulus(server_doc)
    server_identity = Ref("identity", "server")
    silo_docs = {
        n: silo_document(deployment, n, manifest, server_identity, identities) for n in names
    }
    deal = None
    if paillier.deal:
        deal = Deal(
            holders=tuple(sorted(names)),
            bits=paillier.bits,
            allow_insecure=paillier.allow_insecure,
            versioned=False,
            notify=paillier.notify,
        )
        deal.point(server_doc, silo=False)
        server_doc["aggregation"] = "paillier"
        for doc in silo_docs.values():
            deal.point(doc, silo=True)

    server_dir, silos_dir = root / "server", root / "silos"
    folders = [Folder(root, "tree"), Folder(root / "ca"), Folder(server_dir)]
    folders += [Folder(server_dir / "state"), Folder(silos_dir, "plain")]
    files = [
        NewFile(root / "ca", "ca.key", 0o600, Ref("ca.key", "ca")),
        NewFile(root / "ca", "ca.crt", 0o644, Ref("ca.crt", "ca")),
        *party_files(server_dir, "server", "server"),
    ]
    configs = []
    for name in names:
        folders += [Folder(silos_dir / name), Folder(silos_dir / name / "state")]
        files += party_files(silos_dir / name, name, "silo")
        path, check = silos_dir / name / "silo.toml", f"silos/{name}/silo.toml"
        configs.append(
            ConfigFile(path=path, doc=silo_docs[name], what=f"silo {name!r}", check=check)
        )
    if deal is not None:
        files += paillier_files(server_dir, {n: silos_dir / n for n in names}, deal)
    server_toml = server_dir / "server.toml"
    configs.append(ConfigFile(path=server_toml, doc=server_doc, what="server", check="server.toml"))
    audit = [certified(deployment, "ca_created", "ca", "ca")]
    audit.append(certified(deployment, "server_certified", pki.SERVER_CN, "server"))
    audit += [certified(deployment, "silo_certified", n, n) for n in names]
    if deal is not None:
        audit.append(dealt(deployment, deal))
    issue = [Issue("ca", "ca"), Issue("tls", "server"), Issue("identity", "server")]
    for name in names:
        issue += [Issue("tls", name), Issue("identity", name)]
    present = [root / p for p in PARTS if (root / p).exists() or (root / p).is_symlink()]
    ordered = sorted(names)
    return Plan(
        request=request,
        names=names,
        host=host,
        port=port,
        now=now,
        move_aside=tuple(present) if request.force_new else (),
        issue=tuple(issue),
        deal=deal,
        folders=tuple(folders),
        files=tuple(files),
        configs=tuple(configs),
        audit=tuple(audit),
        manifest=dumps_toml(manifest, header=MANIFEST_HEADER).encode(),
        outcome=Outcome(
            ca_cert=root / "ca" / "ca.crt",
            server_config=server_toml,
            server_key=server_dir / "identity.key",
            server_identity=server_identity,
            identities={n: Ref("identity", n) for n in ordered},
            added=tuple(ordered),
            notes=notes,
            audit_log=server_dir / "audit.jsonl",
        ),
    )
