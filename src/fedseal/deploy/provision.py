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
    server/paillier-public.json  with --paillier: the threshold Paillier public key (and in every
    silos/<name>/paillier-public.json paillier-share.key*  silo folder, with that silo's share)

Certificates follow the profile in :mod:`fedseal.deploy.pki` (RFC 5280); identity keys are
Ed25519 (RFC 8032) in PKCS#8 PEM. Theory of operation:

* Everything is validated and every existing file read *before* anything is written.
* Keys and certificates are created with ``O_EXCL``: a re-run never overwrites one. Configs
  are replaced atomically. ``deployment.toml`` is written last on creation, so a crash leaves a
  folder that the next run refuses as partial rather than silently completes.
* The round policy (``corruption``, ``dropout``, ``min_participants``, ``full_graph_max``) is
  written explicitly and alike into ``server.toml`` and every ``silo.toml``;
  ``min_participants`` is :func:`~fedseal.protocol.policy.default_min_participants` of the
  number of silos, ``max(3, ceil(N / 2), floor(corruption * N) + 2)`` capped at ``N``.
* Re-running with new silo names reuses the CA, issues the new silos, and rewrites the
  ``silos`` list and ``[identities]`` table of ``server.toml`` and the ``[identities]`` table
  of every local ``silo.toml`` (other settings are kept; comments are regenerated). The roster
  grew, so a ``min_participants`` at the old roster's default becomes the new default
  everywhere; a value the operator chose is kept and named in the notes. A silo whose folder is
  not here must be updated at its site. Existing silos' keys and certificates are left
  untouched (:mod:`fedseal.deploy.extend`).
* ``force_new`` moves an existing deployment to ``replaced/<UTC time>/`` instead of refusing.
* ``paillier`` makes this machine the trusted dealer of a threshold Paillier key
  (:mod:`fedseal.deploy.paillier_keys`): ``paillier-public.json`` goes to ``server/`` and every
  ``silos/<name>/``, each silo's ``paillier-share.key`` (0600) to its own folder only, and
  ``server.toml`` switches to ``aggregation = "paillier"``. The key is dealt for a fixed set of
  silos, so adding silos to a Paillier deployment is refused unless ``redeal_paillier`` deals a
  new key for all of them (new, versioned file names; the old files are left for the operator
  to destroy). The key is generated before any file is written.
* The server's audit log records each certificate issued, each change of the silo list and
  each Paillier key dealt (names, fingerprints and key ids only, never key material).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from fedseal.config.checks import check_deployment_id, check_host, check_int
from fedseal.deploy import pki
from fedseal.deploy.files import dumps_toml, make_private_dir, write_atomic, write_new
from fedseal.deploy.layout import (
    FORMAT,
    MANIFEST,
    MANIFEST_HEADER,
    addresses,
    fit_modulus,
    server_document,
    silo_document,
    validate_document,
    write_config,
)
from fedseal.deploy.paillier_keys import (
    check_key_bits,
    install_key_files,
)
from fedseal.deploy.parties import (
    PaillierRequest,
    audit_dealt,
    audit_issued,
    identity_fingerprint,
    set_paillier_paths,
    write_party,
)
from fedseal.errors import ConfigError
from fedseal.names import check_silo_name
from fedseal.secagg.identity import IdentityKey

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
    paillier_key_id
        Id (hex) of the threshold Paillier key this run dealt, or None.
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
    paillier_key_id: str | None = None
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
                status = (
                    "silo.toml not in this folder: add the new silos to its [identities] and "
                    "match its min_participants to server.toml"
                )
            else:
                status = "already provisioned" if silo in self.existing else "earlier"
                status += ", keys untouched" + ("; [identities] updated" if self.added else "")
            lines.append(f"  silo    {rel(path)}  identity {self.fingerprints[silo]}  ({status})")
        if self.paillier_key_id is not None:
            lines.append(
                f"  paillier key {self.paillier_key_id[:16]} dealt: public key in server/ and "
                "every silo folder; each silos/<name>/paillier-share*.key goes to that site "
                "only: delete your copies once delivered"
            )
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


def provision(
    *,
    deployment: str,
    silos: Sequence[str],
    out: str | os.PathLike[str],
    host: str | None = None,
    port: int | None = None,
    force_new: bool = False,
    paillier: bool = False,
    paillier_bits: int = 2048,
    paillier_allow_insecure_bits: bool = False,
    redeal_paillier: bool = False,
    notify: Callable[[str], None] | None = None,
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
    paillier
        Deal a threshold Paillier key (``t = full_parameters(n).threshold``) for the
        deployment's silos and set ``aggregation = "paillier"``. On an existing deployment that
        already has one, nothing is re-dealt.
    paillier_bits
        Modulus size, 2048 (default) or 3072.
    paillier_allow_insecure_bits
        Accept any even size >= 256 bits: for tests only.
    redeal_paillier
        Deal a new key for every silo of the deployment (needed to add silos to a Paillier
        deployment). Every silo's folder must be in ``out``; the new files get versioned names.
    notify
        Called with a one-line message before a key is generated (it can take minutes).

    Returns
    -------
    ProvisionResult

    Raises
    ------
    ConfigError
        Naming the bad value: an invalid or duplicate name, fewer than 2 silos, another
        deployment (or a partial one) in ``out``, an existing file that would be overwritten,
        an unreadable existing config or key, a Paillier key size other than 2048 or 3072, or
        silos added to a Paillier deployment without ``redeal_paillier``.

    Warnings
    --------
    ``ca/ca.key`` can issue certificates that the server accepts as any silo: keep it offline.
    Keys are stored unencrypted (protected by file permissions only). With ``paillier`` this
    process is the trusted dealer: it sees every key share while it runs (and forgets them).
    """
    names = _check_request(deployment, silos, host, port)
    if not isinstance(paillier_allow_insecure_bits, bool):
        raise ConfigError("paillier_allow_insecure_bits must be a bool")
    check_key_bits(paillier_bits, paillier_allow_insecure_bits)
    request = PaillierRequest(
        deal=paillier or redeal_paillier,
        bits=paillier_bits,
        allow_insecure=paillier_allow_insecure_bits,
        redeal=redeal_paillier,
        notify=notify,
    )
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"out {root} exists and is not a directory")
    if force_new and len(names) < 2:  # checked before anything is moved
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {names}")
    replaced = _move_aside(root) if force_new else None
    if (root / MANIFEST).exists():
        from fedseal.deploy.extend import extend  # it imports ProvisionResult from here

        return extend(root, deployment, names, host, port, request)
    partial = [part for part in _PARTS if (root / part).exists() or (root / part).is_symlink()]
    if partial:
        raise ConfigError(
            f"{root} holds {partial[0]!r} but no {MANIFEST} (an interrupted run?): remove it, "
            "choose another out directory, or force a new deployment"
        )
    if len(names) < 2:
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {names}")
    address = (host or "127.0.0.1", port or 50051)
    return _create(root, deployment, names, address, replaced, request)


def _create(
    root: Path,
    deployment: str,
    names: list[str],
    address: tuple[str, int],
    replaced: Path | None,
    paillier: PaillierRequest,
) -> ProvisionResult:
    from fedseal.audit import AuditLog

    host, port = address
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
    silo_docs = {n: silo_document(deployment, n, manifest, server_hex, identities) for n in names}
    dealt = paillier.make(deployment, names, versioned=False) if paillier.deal else None
    if dealt is not None:
        set_paillier_paths(server_doc, dealt, silo=False)
        server_doc["aggregation"] = "paillier"
        for doc in silo_docs.values():
            set_paillier_paths(doc, dealt, silo=True)
    validate_document(server_doc, "server.toml")
    for name, doc in silo_docs.items():
        validate_document(doc, f"silos/{name}/silo.toml")

    root.mkdir(parents=True, exist_ok=True)
    ca_pem = ca.cert_pem()
    make_private_dir(root / "ca")
    write_new(root / "ca" / "ca.key", ca.key_pem(), mode=0o600)
    write_new(root / "ca" / "ca.crt", ca_pem, mode=0o644)
    server_dir = root / "server"
    write_party(server_dir, ca_pem, server_tls, "server", server_key)
    (root / "silos").mkdir(mode=0o700, exist_ok=True)
    for name in names:
        folder = root / "silos" / name
        write_party(folder, ca_pem, silo_tls[name], "silo", silo_keys[name])
        write_config(folder / "silo.toml", silo_docs[name], f"silo {name!r}")
    if dealt is not None:
        install_key_files(server_dir, {n: root / "silos" / n for n in names}, dealt)
    write_config(server_dir / "server.toml", server_doc, "server")
    audit_path = server_dir / "audit.jsonl"
    with AuditLog(audit_path, party="server", identity=server_key) as audit, audit.batch():
        audit_issued(audit, "ca_created", "ca", deployment, ca.fingerprint, None)
        server_fp = server_key.public_key.fingerprint()
        audit_issued(
            audit, "server_certified", pki.SERVER_CN, deployment, server_tls.fingerprint, server_fp
        )
        for name in names:
            fingerprint = silo_keys[name].public_key.fingerprint()
            cert = silo_tls[name].fingerprint
            audit_issued(audit, "silo_certified", name, deployment, cert, fingerprint)
        if dealt is not None:
            audit_dealt(audit, deployment, dealt)
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
        fingerprints=MappingProxyType({n: identity_fingerprint(identities[n]) for n in ordered}),
        added=tuple(ordered),
        existing=(),
        notes=notes,
        paillier_key_id=None if dealt is None else dealt.key_id,
        audit_log=audit_path,
    )
