"""The settings and the parties of a loopback deployment (:mod:`fedseal.simulation.loopback`).

:class:`LoopbackConfig` holds what ``server.toml`` and the ``silo.toml`` files hold in a real
deployment; :func:`make_parties` builds from it what ``fedseal server`` (``server/app.py``) and
``fedseal client`` (``client/run.py``) build from theirs: the driver's
:class:`~fedseal.server.driver_config.DriverConfig`, each silo's
:class:`~fedseal.protocol.policy.ClientPolicy`, fresh Ed25519 identity keys, the audit logs and,
for ``aggregation = "paillier"``, a threshold key dealt in memory as ``fedseal provision
--paillier`` deals it (:func:`~fedseal.deploy.paillier_deal.deal_deployment_key`) with the
server's :class:`~fedseal.server.paillier_round.PaillierAggregator` and each silo's
:class:`~fedseal.client.paillier_silo.PaillierSilo`. A key below 2048 bits is refused, as the
silos refuse it, unless ``paillier_allow_insecure_bits`` (tests only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.client.agent import SiloAgent
from fedseal.client.app import SiloApp
from fedseal.config.strategy import StrategySettings
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol.policy import ClientPolicy, default_min_participants
from fedseal.secagg.hazmat.randomness import RandomSource, SystemRandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.quantize import QuantizationSpec, fits_modulus
from fedseal.server.driver_config import DriverConfig
from fedseal.server.strategy import METRIC_NAMES

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.client.paillier_silo import PaillierSilo
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["Dropout", "LoopbackConfig", "Parties", "make_parties"]


@dataclass(frozen=True)
class Dropout:
    """``silo`` loses its connection when handed a message of type ``on`` in round ``round_id``.

    With ``rejoin`` it reconnects at once (same agent, like a silo process whose stream broke);
    without, it stays away and each later round first waits ``connect_timeout_s`` for it.
    """

    silo: str
    round_id: int
    on: type[Any]
    rejoin: bool = True


@dataclass(frozen=True, kw_only=True)
class LoopbackConfig:
    """A loopback deployment's settings; the defaults are those of ``fedseal provision``.

        ``quantization`` defaults to the server's (``clip`` 1, 16 bits, ``max_weight`` 1000, the
        two metrics); ``fedavg_weights`` are the silos' declared weights (default 1);
        ``min_participants`` defaults to :func:`~fedseal.protocol.policy.default_min_participants`;
        ``dropout_rate`` is the round policy's ``dropout``, ``dropouts`` the scripted ones. Silos
        send their evaluation metrics unless ``send_metrics`` is False, and accept plaintext rounds
        only when ``aggregation = "none"``. ``timeout_s`` bounds the whole run. ``silo_threads``
    runs each silo's agent on a thread of its own, for apps that live in worker processes
    (:mod:`fedseal.simulation.app_pool`).
    """

    rounds: int
    aggregation: str = "masking"
    strategy: StrategySettings = field(default_factory=StrategySettings)
    quantization: QuantizationSpec | None = None
    fedavg_weights: Mapping[str, int] = field(default_factory=dict)
    min_participants: int | None = None
    corruption: float = 0.05
    dropout_rate: float = 0.1
    dropouts: tuple[Dropout, ...] = ()
    deployment_id: str = "loopback"
    send_metrics: bool = True
    audit: bool = True
    paillier_bits: int = 2048
    paillier_allow_insecure_bits: bool = False
    train_timeout_s: float = 120.0
    stage_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    checkpoint_timeout_s: float = 10.0
    timeout_s: float = 600.0
    #: Run each silo's agent on a thread of its own (its app waits on a worker process).
    silo_threads: bool = False

    def __post_init__(self) -> None:
        if self.aggregation not in c.AGGREGATION_MODES:
            raise ConfigError(f"aggregation must be one of {c.AGGREGATION_MODES}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")

    def driver_config(self, n: int) -> DriverConfig:
        """The coordinator's settings for ``n`` silos (as ``server.app.driver_config``)."""
        fits = fits_modulus(max_silos=n, max_weight=1000, bits=16, modulus_bits=32)
        spec = self.quantization or QuantizationSpec(
            clip=1.0, bits=16, max_weight=1000, max_silos=n, num_metrics=len(METRIC_NAMES),
            metric_clip=100.0, modulus_bits=32 if fits else 64,  # as provisioning picks it
        )  # fmt: skip
        return DriverConfig(
            deployment_id=self.deployment_id, rounds=self.rounds,
            min_silos=self.silo_policy(n).min_participants, aggregation=self.aggregation,
            quantization=spec, roster_size=n, train_timeout_s=self.train_timeout_s,
            stage_timeout_s=self.stage_timeout_s, connect_timeout_s=self.connect_timeout_s,
            checkpoint_timeout_s=self.checkpoint_timeout_s, corruption=self.corruption,
            dropout=self.dropout_rate,
        )  # fmt: skip

    def silo_policy(self, n: int) -> ClientPolicy:
        """Each silo's own copy of the round policy (as ``client.run.silo_policy``)."""
        minimum = self.min_participants or default_min_participants(n, self.corruption)
        return ClientPolicy(
            roster_size=n, corruption=self.corruption, dropout=self.dropout_rate,
            min_participants=minimum,
        )  # fmt: skip


@dataclass
class Parties:
    """What :func:`make_parties` built: the silos' agents and what the driver takes."""

    settings: DriverConfig
    directory: dict[str, IdentityPublicKey]
    agents: dict[str, SiloAgent]
    server_audit: AuditLog | None
    paillier: PaillierAggregator | None


def _deal_paillier(
    config: LoopbackConfig, identities: Mapping[str, IdentityKey], spec: QuantizationSpec, dim: int
) -> tuple[PaillierAggregator, dict[str, PaillierSilo]]:
    """Deal a threshold key in memory: the server's part and each silo's, as deployed."""
    from fedseal.client.paillier_silo import PaillierSilo
    from fedseal.deploy.paillier_deal import deal_deployment_key
    from fedseal.secagg.paillier import MIN_SECURE_KEY_BITS
    from fedseal.server.paillier_round import PaillierAggregator

    insecure = config.paillier_allow_insecure_bits
    dealt = deal_deployment_key(
        deployment=config.deployment_id, silos=sorted(identities),
        key_bits=config.paillier_bits, allow_insecure=insecure,
    )  # fmt: skip
    key, shares = dealt.key, dict(dealt.shares)
    del dealt  # from here on each share lives only in its silo's PaillierSilo
    bits = key.public_key.key_bits
    if bits < MIN_SECURE_KEY_BITS and not insecure:  # what every silo checks when it loads
        raise ConfigError(f"a {bits}-bit Paillier key is below {MIN_SECURE_KEY_BITS} bits")
    directory = {s: k.public_key for s, k in identities.items()}
    policy = config.silo_policy(len(identities))
    server = PaillierAggregator(
        key, directory, deployment_id=config.deployment_id, spec=spec, dim=dim
    )
    silos = {}
    for s, k in identities.items():
        silos[s] = PaillierSilo(
            silo=s, deployment_id=config.deployment_id, identity_key=k, directory=directory,
            key=key, share=shares.pop(s), policy=policy, rng=SystemRandomSource(),
        )  # fmt: skip
    return server, silos


def make_parties(
    apps: Mapping[str, SiloApp],
    config: LoopbackConfig,
    *,
    dim: int,
    state_dir: Path,
    stack: contextlib.ExitStack,
    rng_for: Callable[[str], RandomSource] | None = None,
) -> Parties:
    """Build every party of the deployment of ``apps`` for models of ``dim`` parameters.

    Parameters
    ----------
    apps : mapping of str to SiloApp
        The silos (by name) and their training code.
    config : LoopbackConfig
    dim : int
        Number of model parameters.
    state_dir : Path
        The silos' state and audit logs go to ``silos/<name>/``, the server's audit log to
        ``server/``.
    stack : ExitStack
        Closes the audit logs and the Paillier worker threads.
    rng_for : callable, optional
        ``rng_for(silo)``: the silo agent's randomness (default ``SystemRandomSource``).
    """
    names = sorted(apps)
    settings, policy = config.driver_config(len(names)), config.silo_policy(len(names))
    identities = {s: IdentityKey.generate() for s in names}
    directory = {s: k.public_key for s, k in identities.items()}
    server_key = IdentityKey.generate()

    def audit_log(party: str, role: str, folder: Path, key: IdentityKey) -> AuditLog | None:
        if not config.audit:
            return None
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = stack.enter_context(AuditLog(folder / "audit.jsonl", party=party, identity=key))
        log.append(ev.PARTY_STARTED, details={"role": role})
        return log

    paillier: PaillierAggregator | None = None
    paillier_silos: dict[str, PaillierSilo] = {}
    if config.aggregation == "paillier":
        paillier, paillier_silos = _deal_paillier(config, identities, settings.quantization, dim)
        stack.callback(paillier.close)
        for part in paillier_silos.values():
            stack.callback(part.close)
    agents = {}
    for s in names:
        agents[s] = SiloAgent(
            silo=s, deployment_id=config.deployment_id, identity_key=identities[s],
            directory=directory, server_identity=server_key.public_key, app=apps[s],
            state_dir=state_dir / "silos" / s, policy=policy,
            audit=audit_log(s, "silo", state_dir / "silos" / s, identities[s]),
            allow_plaintext=config.aggregation == "none",
            fedavg_weight=config.fedavg_weights.get(s, 1), send_metrics=config.send_metrics,
            rng=rng_for(s) if rng_for is not None else None, paillier=paillier_silos.get(s),
        )  # fmt: skip
    server_audit = audit_log("server", "server", state_dir / "server", server_key)
    return Parties(settings, directory, agents, server_audit, paillier)
