"""Checking a plan before anything is written: :func:`validate`.

Every refusal of ``fedseal provision`` happens here (or, for an existing file that cannot be
read at all, while planning), so a refused run leaves the folder exactly as it was. In order:

1. the request: names, deployment id, host, port, Paillier key size;
2. the folder: ``out`` is a directory; a create finds no deployment (and no part of one)
   unless ``force_new`` moves it aside, and has at least 2 silos;
3. an extend finds the deployment it was asked to extend, at the same address; silos may be
   added to a Paillier deployment only with ``redeal_paillier``; a new silo has no folder yet
   (else an earlier run was interrupted); every local ``silo.toml`` is the one its folder
   names; dealing a key finds every silo's folder (each receives its share); the CA key
   belongs to the CA certificate and is not open to every user;
4. every new config, and an extend's rewritten ``server.toml``, builds a valid config
   (:mod:`fedseal.config`), with format-valid stand-ins for the public keys and file names
   that only the generated keys give (the rewritten local ``silo.toml`` files keep the
   operator's values and change only what provisioning owns; they are not rebuilt, as before);
5. no new file exists yet.

The server's audit log is locked by :func:`~fedseal.deploy.provision.writing.apply` before
its first write (the lock cannot be checked ahead: it must be held while the files change).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from fedseal.config.common import POLICY_KEYS
from fedseal.config.server import ServerConfig
from fedseal.deploy import pki
from fedseal.deploy.files import check_private_dir
from fedseal.deploy.layout import MANIFEST, validate_document
from fedseal.deploy.provision.create import PARTS
from fedseal.deploy.provision.plan import Found, Plan, Ref, ValidPlan, fill
from fedseal.deploy.provision.request import check_request
from fedseal.errors import ConfigError

__all__ = ["stand_in", "validate"]


def stand_in(ref: Ref) -> object:
    """A format-valid value in place of one only ``apply`` knows (distinct per holder)."""
    if ref.what == "identity":
        return hashlib.sha256(f"fedseal-plan:{ref.holder}".encode()).hexdigest()
    if ref.what == "paillier-public-name":
        return f"paillier-public-{'0' * 12}.json"
    if ref.what == "paillier-share-name":
        return f"paillier-share-{'0' * 12}.key"
    return "0" * 64


def validate(plan: Plan) -> ValidPlan:
    """Run every check on ``plan``; return it, accepted.

    Parameters
    ----------
    plan
        From :func:`~fedseal.deploy.provision.create.plan_create` or
        :func:`~fedseal.deploy.provision.extend.plan_extend`.

    Returns
    -------
    ValidPlan
        The same plan, for :func:`~fedseal.deploy.provision.writing.apply`.

    Raises
    ------
    ConfigError
        Naming the first problem (see the module docstring); nothing has been written.
    """
    names = check_request(plan.request)
    root = plan.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"out {root} exists and is not a directory")
    if plan.request.force_new and len(names) < 2:
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {list(names)}")
    if plan.found is None:
        _check_create(plan, names)
    else:
        _check_extend(plan, plan.found)
    _check_configs(plan)
    for file in plan.files:
        if isinstance(file.name, Ref):
            continue  # named after a key that does not exist yet
        path = file.folder / file.name
        if any(path.is_relative_to(part) for part in plan.move_aside):
            continue
        if path.exists() or path.is_symlink():
            raise ConfigError(f"refusing to overwrite existing file {path}")
    return ValidPlan(plan)


def _check_create(plan: Plan, names: tuple[str, ...]) -> None:
    root = plan.root
    if plan.request.force_new:
        replaced = root / "replaced"
        if plan.move_aside and (replaced.exists() or replaced.is_symlink()):
            check_private_dir(replaced)
    else:
        if (root / MANIFEST).exists():
            raise ConfigError(
                f"{root} holds a deployment already: add silos to it, or force a new deployment"
            )
        partial = [p for p in PARTS if (root / p).exists() or (root / p).is_symlink()]
        if partial:
            raise ConfigError(
                f"{root} holds {partial[0]!r} but no {MANIFEST} (an interrupted run?): remove "
                "it, choose another out directory, or force a new deployment"
            )
    if len(names) < 2:
        raise ConfigError(f"a deployment needs at least 2 silos, got {len(names)}: {list(names)}")


def _check_extend(plan: Plan, found: Found) -> None:
    root, request = plan.root, plan.request
    deployment, manifest, server = request.deployment, found.manifest, found.server
    if manifest["deployment_id"] != deployment:
        raise ConfigError(
            f"{root} holds deployment {manifest['deployment_id']!r}, not {deployment!r}: choose "
            "another out directory, or force a new deployment (the old one is moved aside)"
        )
    if (request.host is not None and request.host != manifest["host"]) or (
        request.port is not None and request.port != manifest["port"]
    ):
        raise ConfigError(
            f"deployment {deployment!r} was provisioned for {manifest['host']}:{manifest['port']}"
            " (its server certificate names that host); adding silos cannot change it"
        )
    server_toml = plan.outcome.server_config
    if server.deployment_id != deployment:
        raise ConfigError(
            f"{server_toml}: deployment_id is {server.deployment_id!r}, not {deployment!r}"
        )
    added = [n for n in plan.names if n in plan.outcome.added]
    if added and server.paillier_public_key is not None and not request.paillier.redeal:
        raise ConfigError(
            f"deployment {deployment!r} uses a threshold Paillier key dealt for its "
            f"{len(server.silos)} silos; it cannot take new silos. Re-run with "
            "--redeal-paillier to deal a new key for all silos (each site then needs its new "
            "share), or provision a new deployment"
        )
    for name in added:
        folder = root / "silos" / name
        if folder.exists() or folder.is_symlink():
            raise ConfigError(
                f"{folder} exists but {name!r} is not in {server_toml} (an interrupted run?): "
                "remove it and run again"
            )
    for name, (their_deployment, their_silo) in found.local.items():
        if (their_deployment, their_silo) != (deployment, name):
            raise ConfigError(
                f"{root / 'silos' / name / 'silo.toml'} is silo {their_silo!r} of deployment "
                f"{their_deployment!r}, expected {name!r} of {deployment!r}"
            )
    if plan.deal is not None:
        away = [n for n in server.silos if n not in found.local and n not in server.revoked]
        if away:
            raise ConfigError(
                f"dealing a Paillier key needs every silo's folder here to receive its share; "
                f"silos/{away[0]}/silo.toml is missing"
            )
    ca_cert = plan.outcome.ca_cert
    if plan.issue or plan.deal is not None:
        pki.load_ca(ca_cert, ca_cert.with_name("ca.key"))
    else:
        pki.read_fingerprint(ca_cert)
    for config in plan.configs:
        if config.path == server_toml:
            _check_server_rewrite(server_toml, server, fill(config.doc, stand_in))


def _check_server_rewrite(server_toml: Path, server: ServerConfig, doc: dict[str, Any]) -> None:
    """The loaded ``server.toml`` with the planned changes must still be a valid config."""
    policy = {key: doc[key] for key in POLICY_KEYS if key in doc}
    try:
        replace(
            server,
            silos=tuple(doc["identities"]),
            identities=doc["identities"],
            modulus_bits=doc.get("modulus_bits", server.modulus_bits),
            aggregation=doc.get("aggregation", server.aggregation),
            paillier_public_key=doc.get("paillier_public_key"),
            **policy,
        )
    except ConfigError as exc:
        raise ConfigError(f"{server_toml} would be invalid: {exc}") from None


def _check_configs(plan: Plan) -> None:
    """Every new config builds a valid config (an extend's rewrites are checked above)."""
    server_first = sorted(plan.configs, key=lambda config: config.path.name != "server.toml")
    for config in server_first:
        if config.check is not None:
            validate_document(fill(config.doc, stand_in), config.check)
