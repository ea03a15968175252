"""``fedseal provision``: create a deployment folder, or add silos to an existing one.

Layout of the folder (``*`` marks private keys, mode 0600, in directories of mode 0700)::

    deployment.toml              what was provisioned (id, server host and port); marks the folder
    ca/ca.crt  ca/ca.key*        the deployment CA: keep ca/ with the operator, offline
    server/server.toml           the server's config; copy server/ to the server machine
    server/ca.crt server/server.crt server/server.key* server/identity.key*
    server/audit.jsonl           the server's audit log, starting with the provisioning events
    server/state/
    silos/<name>/silo.toml       one folder per silo; copy it to that site
    silos/<name>/ca.crt silo.crt silo.key* identity.key*  silos/<name>/state/

Certificates follow the profile in :mod:`fedseal.deploy.pki` (RFC 5280); identity keys are
Ed25519 (RFC 8032) in PKCS#8 PEM. Theory of operation:

* Everything is validated and every existing file read *before* anything is written.
* Keys and certificates are created with ``O_EXCL``: a re-run never overwrites one. Configs
  are replaced atomically. ``deployment.toml`` is written last on creation, so a crash leaves a
  folder that the next run refuses as partial rather than silently completes.
* Re-running with new silo names reuses the CA, issues the new silos, and rewrites the
  ``silos`` list and ``[identities]`` table of ``server.toml`` and the ``[identities]`` table
  of every local ``silo.toml`` (other settings are kept; comments are regenerated). Existing
  silos' keys and certificates are left untouched.
* ``force_new`` moves an existing deployment to ``replaced/<UTC time>/`` instead of refusing.
* The server's audit log records each certificate issued and each change of the silo list
  (names and fingerprints only, never key material).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fedseal.deploy import pki
from fedseal.deploy.checks import check_deployment_id, check_host, check_int, check_silo_name
from fedseal.deploy.config import load_identity_key, load_server_config, load_silo_config
from fedseal.deploy.files import dumps_toml, make_private_dir, write_atomic, write_new
from fedseal.deploy.keyfile import identity_key_pem
from fedseal.deploy.layout import (
    FORMAT,
    MANIFEST,
    MANIFEST_HEADER,
    addresses,
    fit_modulus,
    read_manifest,
    read_raw,
    server_document,
    silo_document,
    validate_document,
    write_config,
)
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

if TYPE_CHECKING:
    from fedseal.audit import AuditLog

__all__ = ["MANIFEST", "ProvisionResult", "provision"]

_PARTS = (MANIFEST, "ca", "server", "silos")


@dataclass(frozen=True, kw_only=True)
class ProvisionResult:
    """What :func:`provision` did.

    Attributes
    ----------
    deployment_id, directory
        The deployment and its folder.
    created
        True if this run created the deployment (and its CA).
    replaced
        Where ``force_new`` moved a previous deployment, or None.
    ca_cert, ca_fingerprint
        The CA certificate and the SHA-256 of its DER encoding (hex).
    server_config, server_fingerprint
        ``server.toml`` and the server's identity-key fingerprint.
    silo_configs, fingerprints
        Every silo of the deployment -> its ``silo.toml`` / identity-key fingerprint.
    added, existing
        Requested silos created by this run / already present and left untouched.
    not_updated
        Earlier silos whose ``silo.toml`` is no longer in the folder, so its
        ``[identities]`` table could not be updated: update it at the site.
    notes
        Settings provisioning chose for the operator (for example a 64-bit modulus).
    audit_log
        The server's audit log that recorded the provisioning.
    """

    deployment_id: str
    directory: Path
    created: bool
    replaced: Path | None = None
    ca_cert: Path
    ca_fingerprint: str
    server_config: Path
    server_fingerprint: str
    silo_configs: Mapping[str, Path] = field(hash=False)
    fingerprints: Mapping[str, str] = field(hash=False)
    added: tuple[str, ...]
    existing: tuple[str, ...]
    not_updated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    audit_log: Path

    def summary(self) -> str:
        """A short human-readable account (public fingerprints only)."""
        rel = self._relative
        verb = "created" if self.created else "updated" if self.added else "unchanged"
        lines = [f"deployment {self.deployment_id!r} in {self.directory}: {verb}"]
        if self.replaced is not None:
            lines.append(f"  previous deployment moved to {self.replaced}")
        lines.append(f"  CA      {rel(self.ca_cert)}  sha256 {self.ca_fingerprint}")
        lines.append(f"  server  {rel(self.server_config)}  identity {self.server_fingerprint}")
        for silo, path in self.silo_configs.items():
            if silo in self.added:
                status = "new"
            elif silo in self.not_updated:
                status = "silo.toml not in this folder: add the new silos to its [identities]"
            else:
                status = "already provisioned" if silo in self.existing else "earlier"
                status += ", keys untouched" + ("; [identities] updated" if self.added else "")
            lines.append(f"  silo    {rel(path)}  identity {self.fingerprints[silo]}  ({status})")
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append(
            "Private keys are mode 0600. Keep ca/ offline; copy server/ to the server and "
            "silos/<name>/ to each site."
        )
        return "\n".join(lines)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.directory))
        except ValueError:
            return str(path)


def _check_request(
    deployment: str, silos: Sequence[str], host: str | None, port: int | None
) -> list[str]:
    check_deployment_id(deployment, strict=True)
    if isinstance(silos, str):
        raise ConfigError(f"silos must be a sequence of names, got the string {silos!r}")
    names: list[str] = []
    for name in silos:
        if check_silo_name(name) in names:
            raise ConfigError(f"silo name {name!r} is given twice")
        names.append(name)
    if host is not None:
        check_host(host, "host")
    if port is not None:
        check_int("port", port, low=1, high=65535)
    return names


def _move_aside(out: Path) -> Path | None:
    present = [out / part for part in _PARTS if (out / part).exists() or (out / part).is_symlink()]
    if not present:
        return None
    make_private_dir(out / "replaced")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target, n = out / "replaced" / stamp, 1
    while target.exists():
        target, n = out / "replaced" / f"{stamp}-{n}", n + 1
    target.mkdir(mode=0o700)
    for part in present:
        os.replace(part, target / part.name)
    return target


def _write_party(
    folder: Path, ca_pem: bytes, tls: pki.KeyPair, tls_name: str, identity: IdentityKey
) -> None:
    """A party's folder: CA copy, TLS pair, identity key, state dir (all new files)."""
    make_private_dir(folder)
    write_new(folder / "ca.crt", ca_pem, mode=0o644)
    write_new(folder / f"{tls_name}.crt", tls.cert_pem(), mode=0o644)
    write_new(folder / f"{tls_name}.key", tls.key_pem(), mode=0o600)
    write_new(folder / "identity.key", identity_key_pem(identity), mode=0o600)
    make_private_dir(folder / "state")


def _audit_issued(
    audit: AuditLog, action: str, subject: str, deployment: str, cert: str, identity: str | None
) -> None:
    from fedseal.audit import events

    details = {"action": action, "subject": subject, "deployment_id": deployment}
    details["cert_fingerprint"] = cert
    if identity is not None:
        details["identity_fingerprint"] = identity
    audit.append(events.PROVISIONING, details=details)


def _fingerprint(public_hex: str) -> str:
    return IdentityPublicKey(bytes.fromhex(public_hex)).fingerprint()


def provision(
    *,
    deployment: str,
    silos: Sequence[str],
    out: str | os.PathLike[str],
    host: str | None = None,
    port: int | None = None,
    force_new: bool = False,
) -> ProvisionResult:
    """Create a deployment in ``out``, or add the silos it does not have yet.

    Parameters
    ----------
    deployment
        The deployment id (``[A-Za-z0-9][A-Za-z0-9._-]{0,62}``). An existing folder must hold
        the same one.
    silos
        Silo names (``[a-z0-9][a-z0-9._-]{0,62}``), unique; a new deployment needs at least 2.
        Names already provisioned are reported and left untouched.
    out
        The deployment folder (created if missing).
    host, port
        Where the server listens; default ``127.0.0.1`` and ``50051`` for a new deployment.
        Adding silos keeps the existing address; a different one is an error (the server
        certificate names it).
    force_new
        Move an existing (or partial) deployment in ``out`` to ``out/replaced/<time>/`` and
        create a new one.

    Returns
    -------
    ProvisionResult

    Raises
    ------
    ConfigError
        Naming the bad value: an invalid or duplicate name, fewer than 2 silos, another
        deployment (or a partial one) in ``out``, an existing file that would be overwritten,
        or an unreadable existing config or key.

    Warnings
    --------
    ``ca/ca.key`` can issue certificates that the server accepts as any silo: keep it offline.
    Keys are stored unencrypted (protected by file permissions only).
    """
    names = _check_request(deployment, silos, host, port)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"out {root} exists and is not a directory")
    if force_new and len(names) < 2:  # checked before anything is moved
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {names}")
    replaced = _move_aside(root) if force_new else None
    if (root / MANIFEST).exists():
        return _extend(root, deployment, names, host, port)
    partial = [part for part in _PARTS if (root / part).exists() or (root / part).is_symlink()]
    if partial:
        raise ConfigError(
            f"{root} holds {partial[0]!r} but no {MANIFEST} (an interrupted run?): remove it, "
            "choose another out directory, or force a new deployment"
        )
    if len(names) < 2:
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {names}")
    return _create(root, deployment, names, host or "127.0.0.1", port or 50051, replaced)


def _create(
    root: Path, deployment: str, names: list[str], host: str, port: int, replaced: Path | None
) -> ProvisionResult:
    from fedseal.audit import AuditLog

    now = datetime.now(UTC)
    manifest = {"format": FORMAT, "deployment_id": deployment, "host": host, "port": port}
    manifest["created"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    ca = pki.create_ca(deployment, now=now)
    server_tls = pki.issue_server(ca, deployment=deployment, host=host, now=now)
    server_key = IdentityKey.generate()
    server_hex = server_key.public_key.to_bytes().hex()
    silo_tls = {n: pki.issue_silo(ca, deployment=deployment, silo=n, now=now) for n in names}
    silo_keys = {n: IdentityKey.generate() for n in names}
    identities = {n: k.public_key.to_bytes().hex() for n, k in silo_keys.items()}
    listen = addresses(host, port)[0]
    server_doc = server_document(deployment, listen, identities)
    notes = fit_modulus(server_doc)
    validate_document(server_doc, "server.toml")
    silo_docs = {n: silo_document(deployment, n, manifest, server_hex, identities) for n in names}
    for name, doc in silo_docs.items():
        validate_document(doc, f"silos/{name}/silo.toml")

    root.mkdir(parents=True, exist_ok=True)
    ca_pem = ca.cert_pem()
    make_private_dir(root / "ca")
    write_new(root / "ca" / "ca.key", ca.key_pem(), mode=0o600)
    write_new(root / "ca" / "ca.crt", ca_pem, mode=0o644)
    server_dir = root / "server"
    _write_party(server_dir, ca_pem, server_tls, "server", server_key)
    (root / "silos").mkdir(mode=0o700, exist_ok=True)
    for name in names:
        folder = root / "silos" / name
        _write_party(folder, ca_pem, silo_tls[name], "silo", silo_keys[name])
        write_config(folder / "silo.toml", silo_docs[name], f"silo {name!r}")
    write_config(server_dir / "server.toml", server_doc, "server")
    audit_path = server_dir / "audit.jsonl"
    with AuditLog(audit_path, party="server", identity=server_key) as audit, audit.batch():
        _audit_issued(audit, "ca_created", "ca", deployment, ca.fingerprint, None)
        server_fp = server_key.public_key.fingerprint()
        _audit_issued(
            audit, "server_certified", pki.SERVER_CN, deployment, server_tls.fingerprint, server_fp
        )
        for name in names:
            fingerprint = silo_keys[name].public_key.fingerprint()
            cert = silo_tls[name].fingerprint
            _audit_issued(audit, "silo_certified", name, deployment, cert, fingerprint)
    write_atomic(root / MANIFEST, dumps_toml(manifest, header=MANIFEST_HEADER).encode())
    ordered = sorted(names)
    return ProvisionResult(
        deployment_id=deployment,
        directory=root,
        created=True,
        replaced=replaced,
        ca_cert=root / "ca" / "ca.crt",
        ca_fingerprint=ca.fingerprint,
        server_config=server_dir / "server.toml",
        server_fingerprint=server_key.public_key.fingerprint(),
        silo_configs=MappingProxyType({n: root / "silos" / n / "silo.toml" for n in ordered}),
        fingerprints=MappingProxyType({n: _fingerprint(identities[n]) for n in ordered}),
        added=tuple(ordered),
        existing=(),
        notes=notes,
        audit_log=audit_path,
    )


def _extend(
    root: Path, deployment: str, names: list[str], host: str | None, port: int | None
) -> ProvisionResult:
    from fedseal.audit import AuditLog, events

    manifest = read_manifest(root / MANIFEST)
    if manifest["deployment_id"] != deployment:
        raise ConfigError(
            f"{root} holds deployment {manifest['deployment_id']!r}, not {deployment!r}: choose "
            "another out directory, or force a new deployment (the old one is moved aside)"
        )
    if (host is not None and host != manifest["host"]) or (
        port is not None and port != manifest["port"]
    ):
        raise ConfigError(
            f"deployment {deployment!r} was provisioned for {manifest['host']}:{manifest['port']}"
            " (its server certificate names that host); adding silos cannot change it"
        )
    server_toml = root / "server" / "server.toml"
    server = load_server_config(server_toml)
    if server.deployment_id != deployment:
        raise ConfigError(
            f"{server_toml}: deployment_id is {server.deployment_id!r}, not {deployment!r}"
        )
    added = [n for n in names if n not in server.identities]
    existing = tuple(sorted(n for n in names if n in server.identities))
    for name in added:
        folder = root / "silos" / name
        if folder.exists() or folder.is_symlink():
            raise ConfigError(
                f"{folder} exists but {name!r} is not in {server_toml} (an interrupted run?): "
                "remove it and run again"
            )
    server_key = load_identity_key(server.identity_key)
    server_hex = server_key.public_key.to_bytes().hex()
    local: dict[str, Path] = {}
    for name in server.silos:
        path = root / "silos" / name / "silo.toml"
        if path.exists():
            silo = load_silo_config(path)
            if (silo.deployment_id, silo.silo) != (deployment, name):
                raise ConfigError(
                    f"{path} is silo {silo.silo!r} of deployment {silo.deployment_id!r}, "
                    f"expected {name!r} of {deployment!r}"
                )
            local[name] = path
    ca_cert = root / "ca" / "ca.crt"
    identities = dict(server.identities)
    notes: tuple[str, ...] = ()
    if added:
        ca = pki.load_ca(ca_cert, root / "ca" / "ca.key")
        ca_fingerprint = ca.fingerprint
        now = datetime.now(UTC)
        new_tls = {n: pki.issue_silo(ca, deployment=deployment, silo=n, now=now) for n in added}
        new_keys = {n: IdentityKey.generate() for n in added}
        identities |= {n: k.public_key.to_bytes().hex() for n, k in new_keys.items()}
        identities = dict(sorted(identities.items()))
        raw_server = read_raw(server_toml) | {"silos": list(identities), "identities": identities}
        notes = fit_modulus(raw_server)
        try:
            modulus = raw_server.get("modulus_bits", server.modulus_bits)
            replace(server, silos=tuple(identities), identities=identities, modulus_bits=modulus)
        except ConfigError as exc:
            raise ConfigError(f"{server_toml} would be invalid: {exc}") from None
        docs = {n: silo_document(deployment, n, manifest, server_hex, identities) for n in added}
        for name, doc in docs.items():
            validate_document(doc, f"silos/{name}/silo.toml")
        raw_silos = {n: read_raw(p) | {"identities": identities} for n, p in local.items()}
        # The lock on the server's audit log also keeps a running server (or a second
        # provisioning run) out while the files change.
        with AuditLog(server.audit_log, party="server", identity=server_key) as audit:
            ca_pem = ca_cert.read_bytes()
            (root / "silos").mkdir(mode=0o700, exist_ok=True)
            for name in added:
                folder = root / "silos" / name
                _write_party(folder, ca_pem, new_tls[name], "silo", new_keys[name])
                write_config(folder / "silo.toml", docs[name], f"silo {name!r}")
            for name, raw in raw_silos.items():
                write_config(local[name], raw, f"silo {name!r}")
            write_config(server_toml, raw_server, "server")
            with audit.batch():
                for name in added:
                    fingerprint = new_keys[name].public_key.fingerprint()
                    cert = new_tls[name].fingerprint
                    _audit_issued(audit, "silo_certified", name, deployment, cert, fingerprint)
                details = {"setting": "silos", "old": list(server.silos), "new": list(identities)}
                audit.append(events.CONFIG_CHANGED, details=details)
    else:
        from cryptography import x509

        try:
            ca_fingerprint = pki.cert_fingerprint(
                x509.load_pem_x509_certificate(ca_cert.read_bytes())
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the CA certificate {ca_cert}: {exc}") from None
    silo_dir = root / "silos"
    return ProvisionResult(
        deployment_id=deployment,
        directory=root,
        created=False,
        ca_cert=ca_cert,
        ca_fingerprint=ca_fingerprint,
        server_config=server_toml,
        server_fingerprint=server_key.public_key.fingerprint(),
        silo_configs=MappingProxyType({n: silo_dir / n / "silo.toml" for n in identities}),
        fingerprints=MappingProxyType({n: _fingerprint(k) for n, k in identities.items()}),
        added=tuple(sorted(added)),
        existing=existing,
        not_updated=tuple(n for n in server.silos if n not in local),
        notes=notes,
        audit_log=server.audit_log,
    )
