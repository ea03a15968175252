"""``server.toml``: :class:`ServerConfig`, the coordinator's settings (its schema table,
:data:`~fedseal.config.server_schema.SERVER`, is in :mod:`fedseal.config.server_schema`).

Every option has a default that suits the demo, except what identifies the deployment (its
id, the silo names and their Ed25519 public keys). The quantization bound of DESIGN §3
(``n * max_weight * (2^bits - 1) < 2^modulus_bits``) is checked here already, with
:func:`fedseal.secagg.quantize.fits_modulus`. Standard library only at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fedseal.config.checks import check_directory
from fedseal.config.common import check_message_sizes, check_round_policy
from fedseal.config.processing import ProcessingSettings
from fedseal.config.server_schema import AGGREGATION_MODES, SERVER
from fedseal.config.strategy import StrategySettings
from fedseal.config.tls import TlsFiles
from fedseal.errors import ConfigError
from fedseal.names import check_silo_name

__all__ = ["AGGREGATION_MODES", "SERVER", "ServerConfig"]


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
        (``connect_timeout_s``: how long a round waits for every admitted silo before it starts
        with those present, if they are at least ``min_participants``.)
    connect_give_up_s : float
        With fewer than ``min_participants`` connected, the server keeps waiting and names the
        missing silos every ``connect_timeout_s``; after this many seconds it stops (0: never).
        Seconds before a silent silo counts as dropped in a protocol stage or in training, and
        how long to wait for silos to connect before a round.
    checkpoint_timeout_s : float
        Seconds to wait for the silos' co-signatures of a round's audit checkpoint.
    chunk_bytes, max_message_bytes : int
        Streaming chunk size and the hard limit on any one gRPC message (each kind of message
        has a smaller limit derived from the deployment, :mod:`fedseal.server.expectations`).
    heartbeat_s : float
        The server pings each silo's connection this often; one that does not answer within
        ``heartbeat_s`` more is closed, and the silo is a dropout (about ``2 * heartbeat_s``).
    receive_window_bytes : int
        The server's fixed HTTP/2 receive window per silo stream (throughput per round trip).
    reassembly_budget_bytes : int
        Bytes of large messages the server rebuilds at once over all streams.
    connect_burst, connect_refill_s : int, float
        Connections one silo may open at once, and seconds to earn one more; a connection over
        the limit is refused (``RESOURCE_EXHAUSTED``) before anything is audited.
    clip, bits, max_weight, modulus_bits, metric_clip
        Quantization (see :class:`fedseal.secagg.quantize.QuantizationSpec`).
    strategy : StrategySettings
        The ``[strategy]`` table: the federated optimiser and the per-round config it sends
        to silos (:mod:`fedseal.config.strategy`). Default: plain FedAvg.
    processing : ProcessingSettings
        The optional ``[processing]`` table: the processing activity as the controller declares
        it, for the compliance pack (:mod:`fedseal.config.processing`). Not used by rounds.

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
    revoked: tuple[str, ...] = SERVER.default("revoked")
    identities: Mapping[str, str] = field(hash=False)
    state_dir: Path
    audit_log: Path
    rounds: int = SERVER.default("rounds")
    corruption: float = SERVER.default("corruption")
    dropout: float = SERVER.default("dropout")
    min_participants: int | None = SERVER.default("min_participants")
    full_graph_max: int = SERVER.default("full_graph_max")
    aggregation: str = SERVER.default("aggregation")
    stage_timeout_s: float = SERVER.default("stage_timeout_s")
    train_timeout_s: float = SERVER.default("train_timeout_s")
    connect_timeout_s: float = SERVER.default("connect_timeout_s")
    connect_give_up_s: float = SERVER.default("connect_give_up_s")
    checkpoint_timeout_s: float = SERVER.default("checkpoint_timeout_s")
    chunk_bytes: int = SERVER.default("chunk_bytes")
    max_message_bytes: int = SERVER.default("max_message_bytes")
    heartbeat_s: float = SERVER.default("heartbeat_s")
    receive_window_bytes: int = SERVER.default("receive_window_bytes")
    reassembly_budget_bytes: int = SERVER.default("reassembly_budget_bytes")
    connect_burst: int = SERVER.default("connect_burst")
    connect_refill_s: float = SERVER.default("connect_refill_s")
    clip: float = SERVER.default("clip")
    bits: int = SERVER.default("bits")
    max_weight: int = SERVER.default("max_weight")
    modulus_bits: int = SERVER.default("modulus_bits")
    metric_clip: float = SERVER.default("metric_clip")
    paillier_public_key: Path | None = SERVER.default("paillier_public_key")  # noqa: RUF009
    strategy: StrategySettings = field(default_factory=StrategySettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)

    def __post_init__(self) -> None:
        SERVER.validate(self)  # each option's own check
        set_ = object.__setattr__
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
        check_round_policy(self, "silos", len(silos))
        admitted = len(silos) - len(revoked)
        if self.min_participants is not None and self.min_participants > admitted:
            raise ConfigError(
                f"min_participants ({self.min_participants}) exceeds the {admitted} silos "
                "allowed to connect"
            )
        if self.paillier_public_key is None and self.aggregation == "paillier":
            raise ConfigError(
                "aggregation = 'paillier' needs paillier_public_key (the paillier-public.json "
                "written by `fedseal provision --paillier`)"
            )
        check_message_sizes(self.chunk_bytes, self.max_message_bytes)
        # Imported here: the quantizer pulls in numpy, and `import fedseal.config` stays light.
        from fedseal.secagg.quantize import fits_modulus

        if not fits_modulus(
            max_silos=len(silos),
            max_weight=self.max_weight,
            bits=self.bits,
            modulus_bits=self.modulus_bits,
        ):
            raise ConfigError(
                "the aggregate could wrap around: len(silos) * max_weight * (2^bits - 1) = "
                f"{len(silos)} * {self.max_weight} * (2^{self.bits} - 1) >= 2^{self.modulus_bits}"
                "; lower bits or max_weight, or set modulus_bits = 64"
            )

    @property
    def admitted(self) -> frozenset[str]:
        """The silos allowed to connect: ``silos`` minus ``revoked``."""
        return frozenset(self.silos) - frozenset(self.revoked)
