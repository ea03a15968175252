"""Wire one silo together from its config: identity, audit log, app, agent and transport.

With ``paillier_public_key`` and ``paillier_key_share`` in ``silo.toml`` the silo also loads
the deployment's threshold Paillier key and its own share (both checked against the
deployment and this silo before anything connects) for ``aggregation = "paillier"`` rounds.
A key below ``MIN_SECURE_KEY_BITS`` (2048) bits is refused unless ``silo.toml`` sets
``paillier_allow_insecure_bits`` (tests only): a compromised provisioning run or a swapped
public file must not quietly weaken the deployment.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.client.agent import SiloAgent
from fedseal.client.app import SiloApp, SiloContext, load_app
from fedseal.client.budget import audit_budget_changes, check_privacy_plan
from fedseal.client.grpc_client import GrpcSiloClient
from fedseal.config import SiloConfig, load_silo_config
from fedseal.deploy.keyfile import load_identity_key
from fedseal.errors import ConfigError
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.wire.channel import TransportLimits
from fedseal.secagg.hazmat.randomness import SystemRandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, imported only when configured
    from fedseal.client.paillier_silo import PaillierSilo

__all__ = ["make_client", "make_paillier", "open_silo", "run_silo", "silo_policy"]


def silo_policy(config: SiloConfig) -> ClientPolicy:
    """The round policy this silo judges every proposed round by, from its own ``silo.toml``.

    The roster size is the number of silos in ``identities``, never the server's ``n``.
    """
    assert config.min_participants is not None  # filled in by SiloConfig.__post_init__
    return ClientPolicy(
        roster_size=len(config.identities),
        corruption=config.corruption,
        dropout=config.dropout,
        min_participants=config.min_participants,
        full_graph_max=config.full_graph_max,
    )


def make_paillier(
    config: SiloConfig,
    *,
    identity: IdentityKey,
    directory: dict[str, IdentityPublicKey],
    policy: ClientPolicy,
) -> PaillierSilo | None:
    """The silo's Paillier state, or None if ``silo.toml`` names no Paillier key.

    Raises
    ------
    ConfigError
        If a key file is missing, malformed, world-readable, of another deployment or of
        another silo, the key is below ``MIN_SECURE_KEY_BITS`` bits without
        ``paillier_allow_insecure_bits``, or its threshold is below what this silo's
        ``corruption`` accepts.
    """
    if config.paillier_public_key is None or config.paillier_key_share is None:
        return None
    from fedseal.client.paillier_silo import PaillierSilo
    from fedseal.deploy.paillier_keys import load_deployment_key, load_key_share
    from fedseal.secagg.paillier import MIN_SECURE_KEY_BITS

    key = load_deployment_key(
        config.paillier_public_key,
        deployment_id=config.deployment_id,
        silos=tuple(directory),
        min_bits=0 if config.paillier_allow_insecure_bits else MIN_SECURE_KEY_BITS,
    )
    # The silo process's worker threads for gmpy2 (which releases the GIL); they end with it.
    workers = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="fedseal-paillier")
    return PaillierSilo(
        silo=config.silo,
        deployment_id=config.deployment_id,
        identity_key=identity,
        directory=directory,
        key=key,
        share=load_key_share(config.paillier_key_share, key, config.silo),
        policy=policy,
        rng=SystemRandomSource(),
        executor=workers,
    )


def make_client(
    config: SiloConfig,
    app: SiloApp,
    *,
    audit: AuditLog | None,
    agent_type: Callable[..., SiloAgent] = SiloAgent,
    give_up_after_s: float = 600.0,
    identity: IdentityKey | None = None,
) -> GrpcSiloClient:
    """The silo's agent and transport, ready to :meth:`~GrpcSiloClient.run`.

    ``identity`` is read from ``config.identity_key`` unless the caller already loaded it.
    """
    if identity is None:
        identity = load_identity_key(config.identity_key)
    directory = {s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()}
    policy = silo_policy(config)
    paillier = make_paillier(config, identity=identity, directory=directory, policy=policy)
    agent = agent_type(
        silo=config.silo,
        deployment_id=config.deployment_id,
        identity_key=identity,
        directory=directory,
        server_identity=IdentityPublicKey(bytes.fromhex(config.server_identity)),
        app=app,
        state_dir=Path(config.state_dir),
        audit=audit,
        policy=policy,
        allow_plaintext=config.allow_plaintext,
        fedavg_weight=config.fedavg_weight,
        # A DP silo sends no un-noised statistic: its evaluation metrics stay home.
        send_metrics=not config.dp.enabled,
        paillier=paillier,
    )
    return GrpcSiloClient(
        agent,
        address=config.server_address,
        server_name=config.server_name,
        tls=config.tls.read(),
        limits=TransportLimits(
            chunk_bytes=config.chunk_bytes, max_message_bytes=config.max_message_bytes
        ),
        reconnect_max_s=config.reconnect_max_s,
        give_up_after_s=give_up_after_s,
    )


def app_for(config: SiloConfig, config_path: Path, app_spec: str | None) -> SiloApp:
    """The silo's app: ``app_spec``, else ``[app] factory``, with ``[app]``'s settings.

    The app's module is looked up from the folder of ``silo.toml`` and the current folder
    first (a site keeps its app beside its config), then on the usual path.

    Raises
    ------
    ConfigError
        If neither names a factory, or the app cannot be loaded.
    """
    table = dict(config.app or {})
    spec = app_spec or table.pop("factory", None)
    table.pop("factory", None)
    if not isinstance(spec, str):
        raise ConfigError(
            f"no app for silo {config.silo!r}: give --app module:function or set factory in "
            f"the [app] table of {config_path}"
        )
    for folder in (str(Path.cwd()), str(config_path.resolve().parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    state_dir = Path(config.state_dir)
    context = SiloContext(config.silo, state_dir, config.dp.to_dp_config(), table)
    return load_app(spec, context)


def run_silo(
    config_path: str | os.PathLike[str],
    app_spec: str | None,
    *,
    agent_type: Callable[..., SiloAgent] = SiloAgent,
) -> int:
    """Run the silo described by ``config_path`` with the app ``module:function`` (None: the
    ``[app] factory`` of its ``silo.toml``; see :func:`app_for`).

    ``agent_type`` replaces :class:`~fedseal.client.agent.SiloAgent` (the demo's fault
    injection subclasses it; see :mod:`fedseal.demo.faults`).

    After loading the app (which opens the privacy ledger of a DP app), audits any change of
    the ε budget and the rounds the remaining budget allows (:mod:`fedseal.client.budget`).

    Raises
    ------
    ConfigError
        Among others, if a DP app's remaining privacy budget does not allow a single round.
    """
    config = load_silo_config(config_path)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {config.silo} %(levelname)s %(message)s"
    )
    with ExitStack() as stack:
        return open_silo(config_path, app_spec, stack, agent_type=agent_type, config=config).run()


def open_silo(
    config_path: str | os.PathLike[str],
    app_spec: str | None,
    stack: ExitStack,
    *,
    agent_type: Callable[..., SiloAgent] = SiloAgent,
    config: SiloConfig | None = None,
) -> GrpcSiloClient:
    """The silo of ``config_path``, ready to run; its audit log stays open until ``stack`` closes.

    Loads the app (see :func:`app_for`), opens and audits the start of the silo's log, and
    checks its privacy plan, as :func:`run_silo` does before it connects. ``config`` is
    ``config_path`` already loaded, if the caller has it.
    """
    if config is None:
        config = load_silo_config(config_path)
    state_dir = Path(config.state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    app = app_for(config, Path(config_path), app_spec)
    config.audit_log.parent.mkdir(parents=True, exist_ok=True)
    identity = load_identity_key(config.identity_key)
    audit = stack.enter_context(AuditLog(config.audit_log, party=config.silo, identity=identity))
    audit.append(ev.PARTY_STARTED, details={"role": "silo", "silo": config.silo})
    audit_budget_changes(audit, silo=config.silo, state_dir=state_dir)
    check_privacy_plan(app, audit=audit)
    return make_client(config, app, audit=audit, identity=identity, agent_type=agent_type)
