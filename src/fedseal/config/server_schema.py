"""``server.toml``'s schema table, :data:`SERVER`: every option's key, TOML type, default, check
and comment, in the order ``fedseal provision`` writes them.

:class:`~fedseal.config.server.ServerConfig` derives its defaults and per-option checks from it,
the loader (:mod:`fedseal.config.loading`) its parsing, and the provisioner
(:mod:`fedseal.deploy.layout`) the file it writes. Standard library only at import time.
"""

from __future__ import annotations

from fedseal.config.checks import address, instance_of, integer, number, one_of
from fedseal.config.common import (
    DEPLOYMENT_ID,
    FILES,
    IDENTITIES,
    PAILLIER_PUBLIC_KEY,
    POLICY,
    TRANSPORT,
)
from fedseal.config.processing import PROCESSING, ProcessingSettings
from fedseal.config.schema import INT, NUMBER, REQUIRED, STR, STRINGS, TABLE, Option, Table
from fedseal.config.strategy import STRATEGY, StrategySettings
from fedseal.config.tls import SERVER_TLS, TlsFiles

__all__ = ["AGGREGATION_MODES", "SERVER"]

#: Accepted ``aggregation`` values (``fedseal.protocol.control.AGGREGATION_MODES``, repeated
#: here so that this module stays standard-library only).
AGGREGATION_MODES = ("masking", "paillier", "none")

_POSITIVE = number()

#: ``server.toml``, in the order ``fedseal provision`` writes it.
SERVER = Table(
    (
        DEPLOYMENT_ID,
        Option(
            key="listen",
            kind=STR,
            default="127.0.0.1:50051",
            check=address(allow_port_zero=True),
            comment="host:port to serve on",
        ),
        Option(key="silos", kind=STRINGS, default=REQUIRED),
        Option(
            key="revoked",
            kind=STRINGS,
            default=(),
            comment="silos refused even with a valid certificate",
        ),
        *FILES,
        Option(key="rounds", kind=INT, default=10, check=integer(1)),
        *POLICY,
        Option(
            key="aggregation",
            kind=STR,
            default="masking",
            check=one_of(*AGGREGATION_MODES),
            comment=(
                '"masking" (secure aggregation), "paillier" (threshold Paillier; needs\n'
                'paillier_public_key) or "none" (INSECURE, benchmarks only)'
            ),
        ),
        Option(key="stage_timeout_s", kind=NUMBER, default=30.0, check=_POSITIVE),
        Option(key="train_timeout_s", kind=NUMBER, default=120.0, check=_POSITIVE),
        Option(key="connect_timeout_s", kind=NUMBER, default=60.0, check=_POSITIVE),
        Option(
            key="connect_give_up_s",
            kind=NUMBER,
            default=0.0,
            check=number(positive=False),
            comment=(
                "stop if fewer than min_participants silos connected after this many seconds\n"
                "(0: keep waiting, naming the missing silos every connect_timeout_s)"
            ),
            write=False,
        ),
        Option(
            key="checkpoint_timeout_s",
            kind=NUMBER,
            default=10.0,
            check=_POSITIVE,
            comment="seconds to wait for the silos' co-signatures of an audit checkpoint",
            write=False,
        ),
        *TRANSPORT,
        Option(
            key="heartbeat_s",
            kind=NUMBER,
            default=10.0,
            check=number(below=3600.0),
            comment=(
                "the server pings every silo this often; a silo that does not answer within\n"
                "heartbeat_s more (stopped, unreachable) is a dropout"
            ),
            write=False,
        ),
        Option(
            key="receive_window_bytes",
            kind=INT,
            default=256 << 10,
            check=integer(64 << 10, 64 << 20),
            comment=(
                "the server's HTTP/2 receive window per silo stream: at most this much per\n"
                "round trip (256 KiB: ~5 MB/s at 50 ms); raise it for long links"
            ),
            write=False,
        ),
        Option(
            key="reassembly_budget_bytes",
            kind=INT,
            default=32 << 20,
            check=integer(1 << 20, 1 << 40),
            comment=(
                "bytes of large messages (masked inputs) the server rebuilds at once over all\n"
                "silos; others wait their turn. Raise it for large models over long links"
            ),
            write=False,
        ),
        Option(
            key="connect_burst",
            kind=INT,
            default=5,
            check=integer(1),
            comment="connections one silo may open at once (then one per connect_refill_s)",
            write=False,
        ),
        Option(
            key="connect_refill_s",
            kind=NUMBER,
            default=10.0,
            check=_POSITIVE,
            comment="seconds for a silo to earn one more connection once its burst is spent",
            write=False,
        ),
        Option(key="clip", kind=NUMBER, default=1.0, check=_POSITIVE),
        Option(key="bits", kind=INT, default=16, check=integer(1, 32)),
        Option(key="max_weight", kind=INT, default=1000, check=integer(1)),
        Option(key="modulus_bits", kind=INT, default=32, check=one_of(32, 64)),
        Option(
            key="metric_clip",
            kind=NUMBER,
            default=100.0,
            check=_POSITIVE,
            comment="each metric (loss, accuracy) is clipped to [-metric_clip, metric_clip]",
            write=False,
        ),
        PAILLIER_PUBLIC_KEY,
        Option(
            key="tls", kind=TABLE, check=instance_of(TlsFiles), table=SERVER_TLS, build=TlsFiles
        ),
        Option(
            key="strategy",
            kind=TABLE,
            check=instance_of(StrategySettings),
            comment=(
                "the federated optimiser: name = fedavg | fedprox (proximal_mu) | fedadagrad |\n"
                "fedadam | fedyogi (server_lr, beta1, beta2, tau); silo_lr and local_epochs are\n"
                "sent to every silo each round (DP silos ignore local_epochs)"
            ),
            table=STRATEGY,
            build=StrategySettings,
        ),
        Option(
            key="processing",
            kind=TABLE,
            check=instance_of(ProcessingSettings),
            comment=(
                "the processing activity as the controller declares it (GDPR Art. 30), for\n"
                "`fedseal audit report --compliance`: controller, processor, dpo_contact,\n"
                "purposes, data_subjects, data_categories, recipients, transfers, retention,\n"
                "organisational_measures; all optional"
            ),
            table=PROCESSING,
            build=ProcessingSettings,
            write=False,
        ),
        IDENTITIES,
    )
)
