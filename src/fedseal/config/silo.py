"""``silo.toml``: one silo's schema table (:data:`SILO`) and :class:`SiloConfig`.

Every option has a default that suits the demo, except what identifies the deployment and the
silo (the deployment id, the silo's name, the silos' and the server's Ed25519 public keys).
Standard library only at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fedseal.config.checks import (
    address,
    check_directory,
    check_flag,
    check_path,
    instance_of,
    integer,
    non_empty,
    number,
    public_key,
    silo_name,
)
from fedseal.config.common import (
    DEPLOYMENT_ID,
    FILES,
    IDENTITIES,
    PAILLIER_PUBLIC_KEY,
    POLICY,
    TRANSPORT,
    check_message_sizes,
    check_round_policy,
)
from fedseal.config.dp import DP, DPSettings
from fedseal.config.schema import BOOL, INT, NUMBER, REQUIRED, STR, TABLE, Option, Table
from fedseal.config.server import SERVER
from fedseal.config.tls import SILO_TLS, TlsFiles
from fedseal.errors import ConfigError

__all__ = ["SILO", "SiloConfig"]


def _app_table(name: str, value: object) -> dict[str, object] | None:
    """``[app]``: a flat table of strings, numbers and booleans; ``factory`` is module:function."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a table, got {value!r}")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise ConfigError(f"[{name}] {key} must be a string, number or boolean, got {item!r}")
    factory = value.get("factory")
    if factory is not None:
        module, sep, function = str(factory).partition(":")
        if not isinstance(factory, str) or not sep or not module or not function.isidentifier():
            raise ConfigError(f"[{name}] factory must look like 'module:function', got {factory!r}")
    return dict(value)


#: ``silo.toml``, in the order ``fedseal provision`` writes it.
SILO = Table(
    (
        DEPLOYMENT_ID,
        Option(key="silo", kind=STR, default=REQUIRED, check=silo_name),
        Option(
            key="server_address",
            kind=STR,
            default=SERVER.default("listen"),
            check=address(allow_port_zero=False),
        ),
        Option(
            key="server_name",
            kind=STR,
            default="localhost",
            check=non_empty,
            comment="name the server's TLS certificate must carry",
        ),
        Option(
            key="server_identity",
            kind=STR,
            default=REQUIRED,
            check=public_key,
            comment="the server's Ed25519 public key (hex): verifies its audit checkpoints",
        ),
        *FILES,
        Option(key="reconnect_max_s", kind=NUMBER, default=30.0, check=number()),
        *TRANSPORT,
        *POLICY,
        Option(
            key="fedavg_weight",
            kind=INT,
            default=1,
            check=integer(1),
            comment="this silo's FedAvg weight, declared and public (never its live record count)",
        ),
        Option(key="allow_plaintext", kind=BOOL, default=False, check=check_flag),
        Option(
            key="paillier_allow_insecure_bits",
            kind=BOOL,
            default=False,
            check=check_flag,
            comment="accept a Paillier key below 2048 bits: INSECURE, tests only",
        ),
        PAILLIER_PUBLIC_KEY,
        Option(
            key="paillier_key_share",
            kind=STR,
            default=None,
            check=check_path,
            path=True,
            comment="this silo's Paillier key share: secret (0600); keep it on this silo",
        ),
        Option(key="tls", kind=TABLE, check=instance_of(TlsFiles), table=SILO_TLS, build=TlsFiles),
        Option(
            key="dp",
            kind=TABLE,
            check=instance_of(DPSettings),
            comment="differential privacy (DP-SGD); enabled = false trains without it",
            table=DP,
            build=DPSettings,
        ),
        Option(
            key="app",
            kind=TABLE,
            default=None,
            check=_app_table,
            comment=(
                "the silo's app: factory = \"module:function\" (looked up from this file's\n"
                "folder; `fedseal client --app` overrides it) and the app's own settings\n"
                "(strings, numbers, booleans), passed to it as context.settings"
            ),
            write=False,
        ),
        IDENTITIES,
    )
)


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
    app : mapping of str to str, int, float or bool
        The ``[app]`` table: ``factory`` (``module:function``, used when ``fedseal client`` is
        given no ``--app``) and the app's own settings, passed as ``SiloContext.settings``.
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
    server_name: str = SILO.default("server_name")
    tls: TlsFiles
    identity_key: Path
    identities: Mapping[str, str] = field(hash=False)
    server_identity: str
    state_dir: Path
    audit_log: Path
    dp: DPSettings = field(default_factory=DPSettings)
    app: Mapping[str, object] | None = field(default=None, hash=False)
    reconnect_max_s: float = SILO.default("reconnect_max_s")
    chunk_bytes: int = SILO.default("chunk_bytes")
    max_message_bytes: int = SILO.default("max_message_bytes")
    corruption: float = SILO.default("corruption")
    dropout: float = SILO.default("dropout")
    min_participants: int | None = SILO.default("min_participants")
    full_graph_max: int = SILO.default("full_graph_max")
    fedavg_weight: int = SILO.default("fedavg_weight")
    allow_plaintext: bool = SILO.default("allow_plaintext")
    # Table defaults are immutable (None here); ruff cannot see that through the call.
    paillier_public_key: Path | None = SILO.default("paillier_public_key")  # noqa: RUF009
    paillier_key_share: Path | None = SILO.default("paillier_key_share")  # noqa: RUF009
    paillier_allow_insecure_bits: bool = SILO.default("paillier_allow_insecure_bits")

    def __post_init__(self) -> None:
        SILO.validate(self)  # each option's own check
        set_ = object.__setattr__
        _, identities = check_directory(tuple(self.identities), self.identities)
        if self.silo not in identities:
            raise ConfigError(f"identities has no public key for this silo ({self.silo!r})")
        set_(self, "identities", identities)
        check_message_sizes(self.chunk_bytes, self.max_message_bytes)
        check_round_policy(self, "identities", len(identities))
        paillier = ("paillier_public_key", "paillier_key_share")
        given = [name for name in paillier if getattr(self, name) is not None]
        if len(given) == 1:
            missing = next(name for name in paillier if name not in given)
            raise ConfigError(f"{given[0]} is set but {missing} is not: give both or neither")

    @property
    def paillier(self) -> bool:
        """Whether this silo holds a Paillier key share (can join ``"paillier"`` rounds)."""
        return self.paillier_key_share is not None
