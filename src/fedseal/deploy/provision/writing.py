"""Carrying out a validated plan: :func:`apply`.

The order of the steps keeps the deployment usable (or clearly refused) wherever a run stops:

1. **Keys first, nothing written.** Every key and certificate the plan issues is generated
   (an extend loads its CA and the server's identity key), and the Paillier key is dealt (the
   slow step; ``notify`` says so first). A failure or an interrupt here leaves the folder as it
   was. The secrets live in this function only: once the new files are written, only their
   public values (public keys, fingerprints, key id) are kept.
2. ``force_new``: the old deployment is moved to ``replaced/<UTC time>/``, one rename per part.
3. **The server's audit log is locked** before the first write (a create: as soon as
   ``server/`` exists). The lock keeps a running server and a second provisioning run out
   while files change; an extend then checks that no config it rewrites changed since it was
   read.
4. **Folders and new files**: keys, certificates, CA copies, Paillier public files and shares,
   each created ``O_EXCL`` with its final mode (never overwritten, never world-readable). No
   party reads them until a config names them.
5. **Configs, each replaced atomically**: the new silos' ``silo.toml``, then the rewritten
   local ``silo.toml`` files.
6. **The audit entries**, in one batch (one ``fsync``), before the change takes effect: a
   certificate is never issued, nor the roster changed, without its record.
7. **``server.toml``**: for an extend, this is what makes the new silos (and a new Paillier
   key) part of the deployment. Stopped before it, the deployment is as it was, plus new silo
   folders that the next run refuses as an interrupted run until they are removed (a re-run
   then rewrites every ``silo.toml`` again).
8. A create writes **``deployment.toml`` last**: until it exists, the next run refuses the
   folder as partial (``force_new`` moves it aside) rather than silently completing it.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from fedseal.deploy.files import make_private_dir, write_atomic, write_new
from fedseal.deploy.layout import MANIFEST, write_config
from fedseal.deploy.provision.material import Material, identity_fingerprint
from fedseal.deploy.provision.plan import ConfigFile, Folder, Plan, Ref, ValidPlan, fill
from fedseal.deploy.provision.result import ProvisionResult
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.audit import AuditLog

__all__ = ["apply"]


def apply(plan: ValidPlan) -> ProvisionResult:
    """Generate the plan's keys and write its files, in the order the module docstring gives.

    Parameters
    ----------
    plan
        A plan :func:`~fedseal.deploy.provision.checks.validate` accepted.

    Returns
    -------
    ProvisionResult

    Raises
    ------
    ConfigError
        If the audit log is held by another process, a config changed since it was read, or a
        file cannot be written (the message names it).
    """
    secrets = Material.make(plan)
    if not plan.writes:
        return _result(plan, secrets.public(), None, replaced=None)
    replaced = _move_aside(plan.root, plan.move_aside)
    server_config = plan.outcome.server_config
    configs = [c for c in plan.configs if c.path != server_config]
    last = [c for c in plan.configs if c.path == server_config]
    with ExitStack() as stack:
        audit = None
        if plan.outcome.audit_log.parent.is_dir():
            audit = stack.enter_context(_open_log(plan, secrets))
        _check_unchanged(plan.configs)
        for folder in plan.folders:
            _make(folder)
        if audit is None:
            audit = stack.enter_context(_open_log(plan, secrets))
        for file in plan.files:
            name = file.name if isinstance(file.name, str) else secrets.value(file.name)
            write_new(file.folder / str(name), secrets.bytes_of(file.content), mode=file.mode)
        public, dealt = secrets.public(), secrets.dealt
        key_id = None if dealt is None else dealt.key_id
        del secrets, dealt  # from here on, only public values
        resolve = public.__getitem__
        for config in configs:
            write_config(config.path, fill(config.doc, resolve), config.what)
        with audit.batch():
            for entry in plan.audit:
                audit.append(entry.event, details=fill(entry.details, resolve))
        for config in last:
            write_config(config.path, fill(config.doc, resolve), config.what)
        if plan.manifest is not None:
            write_atomic(plan.root / MANIFEST, plan.manifest)
    return _result(plan, public, key_id, replaced=replaced)


def _open_log(plan: Plan, secrets: Material) -> AuditLog:
    from fedseal.audit import AuditLog

    path, identity = plan.outcome.audit_log, secrets.identities["server"]
    return AuditLog(path, party="server", identity=identity)


def _check_unchanged(configs: tuple[ConfigFile, ...]) -> None:
    for config in configs:
        if config.previous is None:
            continue
        try:
            digest = hashlib.sha256(config.path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"cannot read {config.path}: {exc}") from None
        if digest != config.previous:
            raise ConfigError(f"{config.path} changed while provisioning ran: run it again")


def _make(folder: Folder) -> None:
    if folder.kind == "tree":
        folder.path.mkdir(parents=True, exist_ok=True)
    elif folder.kind == "plain":
        folder.path.mkdir(mode=0o700, exist_ok=True)
    else:
        make_private_dir(folder.path)


def _move_aside(root: Path, parts: tuple[Path, ...]) -> Path | None:
    if not parts:
        return None
    make_private_dir(root / "replaced")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target, n = root / "replaced" / stamp, 1
    while target.exists():
        target, n = root / "replaced" / f"{stamp}-{n}", n + 1
    target.mkdir(mode=0o700)
    for part in parts:
        os.replace(part, target / part.name)
    return target


def _result(
    plan: Plan, public: dict[Ref, object], key_id: str | None, *, replaced: Path | None
) -> ProvisionResult:
    outcome, root = plan.outcome, plan.root

    def hex_of(value: str | Ref) -> str:
        return str(public[value]) if isinstance(value, Ref) else value

    identities = {name: hex_of(value) for name, value in outcome.identities.items()}
    return ProvisionResult(
        deployment_id=plan.request.deployment,
        directory=root,
        created=plan.found is None,
        replaced=replaced,
        ca_cert=outcome.ca_cert,
        ca_fingerprint=str(public[Ref("cert-fingerprint", "ca")]),
        server_config=outcome.server_config,
        server_fingerprint=identity_fingerprint(hex_of(outcome.server_identity)),
        silo_configs=MappingProxyType({n: root / "silos" / n / "silo.toml" for n in identities}),
        fingerprints=MappingProxyType({n: identity_fingerprint(k) for n, k in identities.items()}),
        added=outcome.added,
        existing=outcome.existing,
        not_updated=outcome.not_updated,
        notes=outcome.notes,
        paillier_key_id=key_id,
        audit_log=outcome.audit_log,
    )
