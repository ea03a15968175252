"""Adding silos to an existing deployment (``fedseal provision`` re-run), or dealing it a key.

Theory of operation (see also :mod:`fedseal.deploy.provision`): everything is read and
validated first; new silos get certificates and identity keys from the existing CA; a
threshold Paillier key is dealt (before anything is written) when asked for, or when a
Paillier deployment takes new silos with ``redeal_paillier`` (its files get versioned names, so
the previous key's files are never overwritten); then, under the lock of the server's audit
log (which keeps a running server and a second provisioning run out), the new files are
created, every local config is rewritten atomically and the changes are audited. A Paillier
deployment refuses new silos without ``redeal_paillier``: the dealt key has a fixed ``n``.

Adding silos grows the roster ``N`` that every party's round policy is computed from. In
``server.toml`` and every local ``silo.toml``, a ``min_participants`` still at the old roster's
default is raised to the new roster's default (:func:`fedseal.deploy.layout.grow_roster`); a
value the operator chose is kept and reported in the notes. New silos get the server's
(updated) round policy. A silo whose folder is not here must be updated at its site: the new
silos in ``[identities]`` and the new ``min_participants`` (the notes say which value).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from fedseal.config import load_server_config, load_silo_config
from fedseal.config.common import POLICY_KEYS
from fedseal.deploy import pki
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.layout import (
    MANIFEST,
    fit_modulus,
    grow_roster,
    read_manifest,
    read_raw,
    silo_document,
    validate_document,
    write_config,
)
from fedseal.deploy.paillier_keys import DealtKey, install_key_files
from fedseal.deploy.parties import (
    PaillierRequest,
    audit_dealt,
    audit_issued,
    identity_fingerprint,
    set_paillier_paths,
    write_party,
)
from fedseal.deploy.provision import ProvisionResult
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityKey

__all__ = ["extend"]


def extend(
    root: Path,
    deployment: str,
    names: list[str],
    host: str | None,
    port: int | None,
    paillier: PaillierRequest,
) -> ProvisionResult:
    """Add ``names`` not yet provisioned to the deployment in ``root``; deal a key if asked.

    Raises
    ------
    ConfigError
        As :func:`fedseal.deploy.provision.provision` documents.
    """
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
    has_key = server.paillier_public_key is not None
    if added and has_key and not paillier.redeal:
        raise ConfigError(
            f"deployment {deployment!r} uses a threshold Paillier key dealt for its "
            f"{len(server.silos)} silos; it cannot take new silos. Re-run with "
            "--redeal-paillier to deal a new key for all silos (each site then needs its new "
            "share), or provision a new deployment"
        )
    deal = paillier.redeal or (paillier.deal and not has_key)
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
    rosters: dict[str, int] = {}
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
            rosters[name] = len(silo.identities)
    if deal:
        away = [n for n in server.silos if n not in local and n not in server.revoked]
        if away:
            raise ConfigError(
                f"dealing a Paillier key needs every silo's folder here to receive its share; "
                f"silos/{away[0]}/silo.toml is missing"
            )
    ca_cert = root / "ca" / "ca.crt"
    identities = dict(server.identities)
    notes: tuple[str, ...] = ()
    dealt: DealtKey | None = None
    if added or deal:
        ca = pki.load_ca(ca_cert, root / "ca" / "ca.key")
        ca_fingerprint = ca.fingerprint
        now = datetime.now(UTC)
        new_tls = {n: pki.issue_silo(ca, deployment=deployment, silo=n, now=now) for n in added}
        new_keys = {n: IdentityKey.generate() for n in added}
        identities |= {n: k.public_key.to_bytes().hex() for n, k in new_keys.items()}
        identities = dict(sorted(identities.items()))
        raw_server = read_raw(server_toml) | {"silos": list(identities), "identities": identities}
        notes = fit_modulus(raw_server)
        grown = [grow_roster(raw_server, len(server.silos), len(identities), "server.toml")]
        policy = {key: raw_server[key] for key in POLICY_KEYS if key in raw_server}
        docs = {
            n: silo_document(deployment, n, manifest, server_hex, identities) | policy
            for n in added
        }
        raw_silos = {n: read_raw(p) | {"identities": identities} for n, p in local.items()}
        for name, doc in raw_silos.items():
            where = f"silos/{name}/silo.toml"
            grown.append(grow_roster(doc, rosters[name], len(identities), where))
        away = [n for n in server.silos if n not in local]
        minimum = policy.get("min_participants")
        if away and minimum != server.min_participants:
            grown.append(
                f"the silo.toml of {', '.join(away)} is not here: at its site, also set "
                f"min_participants = {minimum}, as in server.toml"
            )
        notes += tuple(note for note in grown if note is not None)
        if deal:
            holders = [n for n in identities if n not in server.revoked]
            dealt = paillier.make(deployment, holders, versioned=has_key)
            set_paillier_paths(raw_server, dealt, silo=False)
            if not has_key:
                raw_server["aggregation"] = "paillier"
            for name, doc in [*docs.items(), *raw_silos.items()]:
                if name in dealt.key.parties:
                    set_paillier_paths(doc, dealt, silo=True)
        try:
            modulus = raw_server.get("modulus_bits", server.modulus_bits)
            replace(
                server,
                silos=tuple(identities),
                identities=identities,
                modulus_bits=modulus,
                aggregation=raw_server.get("aggregation", server.aggregation),
                paillier_public_key=raw_server.get("paillier_public_key"),
                **policy,
            )
        except ConfigError as exc:
            raise ConfigError(f"{server_toml} would be invalid: {exc}") from None
        for name, doc in docs.items():
            validate_document(doc, f"silos/{name}/silo.toml")
        # The lock on the server's audit log also keeps a running server (or a second
        # provisioning run) out while the files change.
        with AuditLog(server.audit_log, party="server", identity=server_key) as audit:
            ca_pem = ca_cert.read_bytes()
            (root / "silos").mkdir(mode=0o700, exist_ok=True)
            for name in added:
                folder = root / "silos" / name
                write_party(folder, ca_pem, new_tls[name], "silo", new_keys[name])
            if dealt is not None:
                folders = {n: root / "silos" / n for n in dealt.key.parties}
                install_key_files(server_toml.parent, folders, dealt)
            for name in added:
                folder = root / "silos" / name
                write_config(folder / "silo.toml", docs[name], f"silo {name!r}")
            for name, raw in raw_silos.items():
                write_config(local[name], raw, f"silo {name!r}")
            write_config(server_toml, raw_server, "server")
            with audit.batch():
                for name in added:
                    fingerprint = new_keys[name].public_key.fingerprint()
                    cert = new_tls[name].fingerprint
                    audit_issued(audit, "silo_certified", name, deployment, cert, fingerprint)
                if added:
                    old, new = list(server.silos), list(identities)
                    details = {"setting": "silos", "old": old, "new": new}
                    audit.append(events.CONFIG_CHANGED, details=details)
                if minimum != server.min_participants:
                    change = {"setting": "min_participants", "old": server.min_participants}
                    audit.append(events.CONFIG_CHANGED, details=change | {"new": minimum})
                if dealt is not None:
                    audit_dealt(audit, deployment, dealt)
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
        fingerprints=MappingProxyType({n: identity_fingerprint(k) for n, k in identities.items()}),
        added=tuple(sorted(added)),
        existing=existing,
        not_updated=tuple(n for n in server.silos if n not in local),
        notes=notes,
        paillier_key_id=None if dealt is None else dealt.key_id,
        audit_log=server.audit_log,
    )
