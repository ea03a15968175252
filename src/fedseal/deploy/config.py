"""The server's and the silos' TOML configs: frozen, validated dataclasses and their loaders.

``fedseal provision`` (:func:`provision`, defined in :mod:`fedseal.deploy.provision` and
re-exported here) writes ``server/server.toml`` and one ``silos/<name>/silo.toml`` per silo;
``fedseal server --config`` and ``fedseal client --config`` read them with
:func:`load_server_config` and :func:`load_silo_config`. Every option has a default that suits
the demo, except what identifies the deployment (its id, the silo names and their Ed25519
public keys). Paths in a file are relative to that file's directory, so a party's folder can
be copied to its machine as a whole.

Mistakes fail loudly and early: an unknown key (a typo) is refused rather than ignored, and
every :class:`~fedseal.errors.ConfigError` names the file and the key. The quantization bound
of DESIGN §3 (``n * max_weight * (2^bits - 1) < 2^modulus_bits``) is checked here already.

Both files carry the deployment's round policy: ``corruption``, ``dropout``,
``min_participants`` and ``full_graph_max``. The server uses it to size rounds; each silo
judges every round against its own copy (:class:`fedseal.protocol.policy.ClientPolicy`), so a
server cannot loosen it. ``min_participants`` left out defaults to
:func:`~fedseal.protocol.policy.default_min_participants` of the roster (``len(silos)`` in
``server.toml``, the silos in ``[identities]`` in ``silo.toml``) and ``corruption``:
``max(3, ceil(N / 2), floor(corruption * N) + 2)``, capped at ``N``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fedseal.deploy.checks import (
    check_address,
    check_deployment_id,
    check_directory,
    check_float,
    check_int,
    check_public_key,
    check_silo_name,
)
from fedseal.deploy.keyfile import load_identity_key, read_tls
from fedseal.deploy.strategy_config import StrategySettings
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.deploy.loading import load_server_config, load_silo_config
    from fedseal.deploy.provision import ProvisionResult, provision
    from fedseal.dp.config import DPConfig

__all__ = [
    "AGGREGATION_MODES",
    "DPSettings",
    "ProvisionResult",
    "ServerConfig",
    "SiloConfig",
    "TlsFiles",
    "load_identity_key",
    "load_server_config",
    "load_silo_config",
    "provision",
]


def __getattr__(name: str) -> Any:
    # ``provision`` and the loaders are defined in modules that import this one.
    if name in ("provision", "ProvisionResult"):
        import importlib

        return getattr(importlib.import_module("fedseal.deploy.provision"), name)
    if name in ("load_server_config", "load_silo_config"):
        import importlib

        return getattr(importlib.import_module("fedseal.deploy.loading"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Accepted ``aggregation`` values (``fedseal.protocol.control.AGGREGATION_MODES``, repeated
#: here so that this module stays standard-library only).
AGGREGATION_MODES = ("masking", "paillier", "none")

#: Noise multiplier used when a silo's ``[dp]`` table gives neither it nor ``target_epsilon``.
DEFAULT_NOISE_MULTIPLIER = 1.0


def _path(name: str, value: object) -> Path:
    if isinstance(value, str | os.PathLike) and str(value):
        return Path(value)
    raise ConfigError(f"{name} must be a path, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """A party's mutual-TLS files: the deployment CA, its own certificate and private key."""

    ca_cert: Path
    cert: Path
    key: Path

    def __post_init__(self) -> None:
        for name in ("ca_cert", "cert", "key"):
            object.__setattr__(self, name, _path(f"tls.{name}", getattr(self, name)))

    def read(self) -> tuple[bytes, bytes, bytes]:
        """Return ``(ca_pem, cert_pem, key_pem)`` for ``grpc.ssl_*_credentials``.

        Raises
        ------
        ConfigError
            If a file is missing or unreadable, the key is readable by every user, the key
            does not match the certificate, the CA did not issue it, or it has expired.

        Warnings
        --------
        ``key_pem`` is the private key: pass it to the TLS library and drop it; never log it.
        """
        return read_tls(self.ca_cert, self.cert, self.key)


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """The coordinator's settings (``server.toml``).

    Parameters
    ----------
    deployment_id : str
        Bound into every signature and key derivation; a silo of another deployment is refused.
    listen : str
        ``host:port`` to serve on (``[::1]:50051`` for IPv6; port 0 picks a free port).
    tls : TlsFiles
        Deployment CA, server certificate and key. Silos are identified by the CN of their
        client certificate, which must chain to this CA.
    identity_key : Path
        The server's Ed25519 identity key (signs audit checkpoints).
    silos : tuple of str
        Every provisioned silo (stored sorted). Those not in ``revoked`` may connect.
    revoked : tuple of str
        Silos refused even with a valid certificate. Each must be one of ``silos``.
    identities : mapping of str to str
        Every silo's Ed25519 public key, hex: the secure-aggregation directory.
    state_dir, audit_log : Path
        The server's durable round state and its audit log.
    rounds : int
        Training rounds to run.
    corruption : float
        Fraction of the roster assumed to collude with the server, ``[0, 0.5)``: sets the graph
        and threshold of each round (with ``dropout``). Must equal the silos' value, or they
        refuse the rounds.
    dropout : float
        Dropout rate the sparse graph is sized for, ``[0, 1)``; as in every ``silo.toml``.
    min_participants : int, optional
        Fewest ready silos to start a round: at least 2 and at most the silos allowed to
        connect. Default :func:`~fedseal.protocol.policy.default_min_participants` of
        ``len(silos)`` and ``corruption`` (``max(3, ceil(N/2), a + 2)`` capped at ``N``). A
        silo refuses rounds smaller than its own ``min_participants``.
    full_graph_max : int
        Rounds of at most this many silos use the complete graph (``>= 0``); as in every
        ``silo.toml``.
    aggregation : {"masking", "paillier", "none"}
        ``"masking"``: SecAgg; ``"paillier"``: packed threshold Paillier (needs
        ``paillier_public_key``); ``"none"`` sends updates in clear: insecure, for
        benchmarking only.
    paillier_public_key : Path, optional
        The deployment's ``paillier-public.json`` (written by ``fedseal provision
        --paillier``); required by ``aggregation = "paillier"``.
    stage_timeout_s, train_timeout_s, connect_timeout_s : float
        Seconds before a silent silo counts as dropped in a protocol stage or in training, and
        how long to wait for silos to connect before a round.
    chunk_bytes, max_message_bytes : int
        Streaming chunk size and the hard limit on any one gRPC message.
    clip, bits, max_weight, modulus_bits
        Quantization (see :class:`fedseal.secagg.quantize.QuantizationSpec`).
    strategy : StrategySettings
        The ``[strategy]`` table: the federated optimiser and the per-round config it sends
        to silos (:mod:`fedseal.deploy.strategy_config`). Default: plain FedAvg.

    Raises
    ------
    ConfigError
        Naming the parameter, for any value out of range.
    """

    deployment_id: str
    listen: str
    tls: TlsFiles
    identity_key: Path
    silos: tuple[str, ...]
    revoked: tuple[str, ...] = ()
    identities: Mapping[str, str] = field(hash=False)
    state_dir: Path
    audit_log: Path
    rounds: int = 10
    corruption: float = 0.05
    dropout: float = 0.1
    min_participants: int | None = None
    full_graph_max: int = 100
    aggregation: str = "masking"
    stage_timeout_s: float = 30.0
    train_timeout_s: float = 120.0
    connect_timeout_s: float = 60.0
    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 64 << 20
    clip: float = 1.0
    bits: int = 16
    max_weight: int = 1000
    modulus_bits: int = 32
    paillier_public_key: Path | None = None
    strategy: StrategySettings = field(default_factory=StrategySettings)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        check_deployment_id(self.deployment_id)
        if not isinstance(self.strategy, StrategySettings):
            raise ConfigError(
                f"strategy must be a StrategySettings, got {type(self.strategy).__name__}"
            )
        check_address("listen", self.listen, allow_port_zero=True)
        if not isinstance(self.tls, TlsFiles):
            raise ConfigError(f"tls must be a TlsFiles, got {type(self.tls).__name__}")
        for name in ("identity_key", "state_dir", "audit_log"):
            set_(self, name, _path(name, getattr(self, name)))
        silos, identities = check_directory(self.silos, self.identities)
        set_(self, "silos", silos)
        set_(self, "identities", identities)
        if isinstance(self.revoked, str):
            raise ConfigError(f"revoked must be a list of silo names, got {self.revoked!r}")
        revoked = tuple(sorted({check_silo_name(s, "revoked") for s in self.revoked}))
        unknown = [s for s in revoked if s not in silos]
        if unknown:
            raise ConfigError(f"revoked names {unknown[0]!r}, which is not one of silos")
        set_(self, "revoked", revoked)
        check_int("rounds", self.rounds, low=1)
        _check_round_policy(self, "silos", len(silos))
        admitted = len(silos) - len(revoked)
        if self.min_participants is not None and self.min_participants > admitted:
            raise ConfigError(
                f"min_participants ({self.min_participants}) exceeds the {admitted} silos "
                "allowed to connect"
            )
        if self.aggregation not in AGGREGATION_MODES:
            raise ConfigError(
                f"aggregation must be 'masking', 'paillier' or 'none', got {self.aggregation!r}"
            )
        if self.paillier_public_key is not None:
            set_(
                self, "paillier_public_key", _path("paillier_public_key", self.paillier_public_key)
            )
        elif self.aggregation == "paillier":
            raise ConfigError(
                "aggregation = 'paillier' needs paillier_public_key (the paillier-public.json "
                "written by `fedseal provision --paillier`)"
            )
        for name in ("stage_timeout_s", "train_timeout_s", "connect_timeout_s", "clip"):
            set_(self, name, check_float(name, getattr(self, name)))
        _check_message_sizes(self.chunk_bytes, self.max_message_bytes)
        check_int("bits", self.bits, low=1, high=32)
        check_int("max_weight", self.max_weight, low=1)
        if self.modulus_bits not in (32, 64) or isinstance(self.modulus_bits, bool):
            raise ConfigError(f"modulus_bits must be 32 or 64, got {self.modulus_bits!r}")
        largest = len(silos) * self.max_weight * ((1 << self.bits) - 1)
        if largest >= 1 << self.modulus_bits:
            raise ConfigError(
                "the aggregate could wrap around: len(silos) * max_weight * (2^bits - 1) = "
                f"{len(silos)} * {self.max_weight} * (2^{self.bits} - 1) >= 2^{self.modulus_bits}"
                "; lower bits or max_weight, or set modulus_bits = 64"
            )

    @property
    def admitted(self) -> frozenset[str]:
        """The silos allowed to connect: ``silos`` minus ``revoked``."""
        return frozenset(self.silos) - frozenset(self.revoked)


def _check_round_policy(config: ServerConfig | SiloConfig, roster: str, roster_size: int) -> None:
    """Validate and normalise ``corruption``, ``dropout``, ``min_participants`` and
    ``full_graph_max``; fill in the default ``min_participants`` for ``roster_size`` silos
    (the length of the field named ``roster``)."""
    set_ = object.__setattr__
    if roster_size < 2:
        raise ConfigError(f"{roster} has {roster_size} silo(s); a deployment needs at least 2")
    corruption = check_float("corruption", config.corruption, positive=False)
    if not corruption < 0.5:
        raise ConfigError(f"corruption must be in [0, 0.5), got {config.corruption!r}")
    set_(config, "corruption", corruption)
    dropout = check_float("dropout", config.dropout, positive=False)
    if not dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout!r}")
    set_(config, "dropout", dropout)
    check_int("full_graph_max", config.full_graph_max, low=0)
    if config.min_participants is None:
        # Imported here: the policy module pulls in the protocol package, and the loaders
        # should stay light.
        from fedseal.protocol.policy import default_min_participants

        set_(config, "min_participants", default_min_participants(roster_size, corruption))
        return
    minimum = check_int("min_participants", config.min_participants, low=2)
    if minimum > roster_size:
        raise ConfigError(
            f"min_participants ({minimum}) exceeds the {roster_size} silos in {roster}"
        )


def _check_message_sizes(chunk_bytes: object, max_message_bytes: object) -> None:
    chunk = check_int("chunk_bytes", chunk_bytes, low=1)
    # gRPC takes message limits as a signed 32-bit int.
    limit = check_int("max_message_bytes", max_message_bytes, low=1024, high=(1 << 31) - 1)
    if chunk > limit - 1024:
        raise ConfigError(
            f"chunk_bytes ({chunk}) must leave 1 KiB of max_message_bytes ({limit}) for framing"
        )


@dataclass(frozen=True, kw_only=True)
class DPSettings:
    """A silo's differential-privacy settings; mirrors :class:`fedseal.dp.config.DPConfig`.

    ``enabled = False`` trains without DP. With neither ``noise_multiplier`` nor
    ``target_epsilon`` given, ``noise_multiplier`` is ``DEFAULT_NOISE_MULTIPLIER`` (1.0). The
    noise always comes from a CSPRNG (``DPConfig.secure_rng`` cannot be switched off here).
    ``allow_budget_increase = true`` lets this start raise the ``epsilon_budget`` stored in the
    silo's privacy ledger (refused otherwise; every change is recorded and audited).

    Raises
    ------
    ConfigError
        As :class:`~fedseal.dp.config.DPConfig` does, naming the parameter.
    """

    enabled: bool = True
    epsilon_budget: float = 8.0
    delta: float = 1e-5
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    planned_rounds: int | None = None
    max_grad_norm: float = 1.0
    accountant: str = "rdp"
    sample_rate: float | None = None
    allow_budget_increase: bool = False
    neighbouring_relation: str = "add_remove"

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"enabled must be true or false, got {self.enabled!r}")
        if self.noise_multiplier is None and self.target_epsilon is None:
            object.__setattr__(self, "noise_multiplier", DEFAULT_NOISE_MULTIPLIER)
        self._dp_config()  # validates every field, even when DP is disabled

    def _dp_config(self) -> DPConfig:
        from fedseal.dp.config import DPConfig

        return DPConfig(
            epsilon_budget=self.epsilon_budget,
            noise_multiplier=self.noise_multiplier,
            target_epsilon=self.target_epsilon,
            planned_rounds=self.planned_rounds,
            max_grad_norm=self.max_grad_norm,
            delta=self.delta,
            accountant=cast(Any, self.accountant),
            sample_rate=self.sample_rate,
            allow_budget_increase=self.allow_budget_increase,
            neighbouring_relation=cast(Any, self.neighbouring_relation),
        )

    def to_dp_config(self) -> DPConfig | None:
        """The :class:`~fedseal.dp.config.DPConfig` to train with, or None if DP is off."""
        return self._dp_config() if self.enabled else None


@dataclass(frozen=True, kw_only=True)
class SiloConfig:
    """One silo's settings (``silo.toml``).

    Parameters
    ----------
    deployment_id : str
        Must equal the server's.
    silo : str
        This silo's name: the CN of its certificate.
    server_address : str
        ``host:port`` of the server (silos only connect outwards).
    server_name : str
        The name the server's certificate must carry (TLS hostname check).
    tls : TlsFiles
        Deployment CA, this silo's client certificate and key.
    identity_key : Path
        This silo's Ed25519 identity key.
    identities : mapping of str to str
        Every silo's Ed25519 public key, hex (must include this silo).
    server_identity : str
        The server's Ed25519 public key, hex: verifies the server's audit checkpoints.
    state_dir, audit_log : Path
        This silo's durable state (privacy ledger, ...) and its audit log.
    dp : DPSettings
    reconnect_max_s : float
        Cap of the reconnection back-off.
    chunk_bytes, max_message_bytes : int
        As for the server.
    corruption : float
        The fraction of the roster (the silos in ``identities``) this silo assumes may collude
        with the server, ``[0, 0.5)``; it sets the smallest secret-sharing threshold the silo
        accepts.
    dropout : float
        Dropout rate the sparse graph is sized for, ``[0, 1)``: part of the formula the silo
        recomputes each round's graph with, so it must equal the server's.
    min_participants : int, optional
        Fewest silos in a round this silo takes part in: at least 2 and at most the number of
        silos in ``identities``. Default
        :func:`~fedseal.protocol.policy.default_min_participants` of that number and
        ``corruption`` (``max(3, ceil(N/2), a + 2)`` capped at ``N``).
    full_graph_max : int
        Rounds of at most this many silos must use the complete graph (``>= 0``).
    fedavg_weight : int
        The silo's weight in FedAvg, declared here (public: it is visible in every aggregate's
        total weight), ``>= 1``; default 1. Never the live record count, which the sum of
        weights would reveal round after round (``docs/privacy.md``).
    allow_plaintext : bool
        Whether this silo takes part in rounds with ``aggregation = "none"`` (its update in
        clear). False by default: a server cannot switch a silo to plaintext on its own.
    paillier_public_key, paillier_key_share : Path, optional
        The deployment's ``paillier-public.json`` and this silo's ``paillier-share.key``
        (mode 0600), written by ``fedseal provision --paillier``. Both or neither; without
        them the silo abstains from ``aggregation = "paillier"`` rounds.
    paillier_allow_insecure_bits : bool
        Accept a deployment Paillier key below
        :data:`~fedseal.secagg.paillier.MIN_SECURE_KEY_BITS` (2048) bits. False by default:
        the silo refuses to load a smaller key. ``fedseal provision --paillier`` sets it only
        when it dealt such a key (``paillier_allow_insecure_bits``, tests only).

    Raises
    ------
    ConfigError
        Naming the parameter, for any value out of range.
    """

    deployment_id: str
    silo: str
    server_address: str
    server_name: str = "localhost"
    tls: TlsFiles
    identity_key: Path
    identities: Mapping[str, str] = field(hash=False)
    server_identity: str
    state_dir: Path
    audit_log: Path
    dp: DPSettings = field(default_factory=DPSettings)
    reconnect_max_s: float = 30.0
    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 64 << 20
    corruption: float = 0.05
    dropout: float = 0.1
    min_participants: int | None = None
    full_graph_max: int = 100
    fedavg_weight: int = 1
    allow_plaintext: bool = False
    paillier_public_key: Path | None = None
    paillier_key_share: Path | None = None
    paillier_allow_insecure_bits: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for flag in ("allow_plaintext", "paillier_allow_insecure_bits"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        check_deployment_id(self.deployment_id)
        check_silo_name(self.silo, "silo")
        check_int("fedavg_weight", self.fedavg_weight, low=1)
        check_address("server_address", self.server_address, allow_port_zero=False)
        if not isinstance(self.server_name, str) or not self.server_name.strip():
            raise ConfigError(f"server_name must be a non-empty string, got {self.server_name!r}")
        if not isinstance(self.tls, TlsFiles):
            raise ConfigError(f"tls must be a TlsFiles, got {type(self.tls).__name__}")
        for name in ("identity_key", "state_dir", "audit_log"):
            set_(self, name, _path(name, getattr(self, name)))
        _, identities = check_directory(tuple(self.identities), self.identities)
        if self.silo not in identities:
            raise ConfigError(f"identities has no public key for this silo ({self.silo!r})")
        set_(self, "identities", identities)
        set_(self, "server_identity", check_public_key("server_identity", self.server_identity))
        if not isinstance(self.dp, DPSettings):
            raise ConfigError(f"dp must be a DPSettings, got {type(self.dp).__name__}")
        set_(self, "reconnect_max_s", check_float("reconnect_max_s", self.reconnect_max_s))
        _check_message_sizes(self.chunk_bytes, self.max_message_bytes)
        _check_round_policy(self, "identities", len(identities))
        paillier = ("paillier_public_key", "paillier_key_share")
        given = [name for name in paillier if getattr(self, name) is not None]
        if len(given) == 1:
            missing = next(name for name in paillier if name not in given)
            raise ConfigError(f"{given[0]} is set but {missing} is not: give both or neither")
        for name in given:
            set_(self, name, _path(name, getattr(self, name)))

    @property
    def paillier(self) -> bool:
        """Whether this silo holds a Paillier key share (can join ``"paillier"`` rounds)."""
        return self.paillier_key_share is not None
