"""The options ``server.toml`` and ``silo.toml`` share, and the checks that relate them.

Both files carry the deployment's round policy (:data:`POLICY`: ``corruption``, ``dropout``,
``min_participants`` and ``full_graph_max``). The server uses it to size rounds; each silo
judges every round against its own copy (:class:`fedseal.protocol.policy.ClientPolicy`), so a
server cannot loosen it. ``min_participants`` left out defaults to
:func:`~fedseal.protocol.policy.default_min_participants` of the roster (``len(silos)`` in
``server.toml``, the silos in ``[identities]`` in ``silo.toml``) and ``corruption``:
``max(3, ceil(N / 2), floor(corruption * N) + 2)``, capped at ``N``.

Each option is declared here once and listed in both files' tables
(:mod:`fedseal.config.server`, :mod:`fedseal.config.silo`). Standard library only.
"""

from __future__ import annotations

from typing import Protocol

from fedseal.config.checks import check_path, deployment_id, integer, number
from fedseal.config.schema import INT, NUMBER, STR, TABLE, Option
from fedseal.errors import ConfigError

__all__ = [
    "DEPLOYMENT_ID",
    "FILES",
    "IDENTITIES",
    "PAILLIER_PUBLIC_KEY",
    "POLICY",
    "POLICY_KEYS",
    "TRANSPORT",
    "check_message_sizes",
    "check_round_policy",
]

DEPLOYMENT_ID = Option(key="deployment_id", kind=STR, check=deployment_id)

#: The party's identity key, durable state and audit log.
FILES = (
    Option(key="identity_key", kind=STR, default="identity.key", check=check_path, path=True),
    Option(key="state_dir", kind=STR, default="state", check=check_path, path=True),
    Option(key="audit_log", kind=STR, default="audit.jsonl", check=check_path, path=True),
)

#: Streaming chunk size and the hard limit on any one gRPC message (a signed 32-bit int).
TRANSPORT = (
    Option(key="chunk_bytes", kind=INT, default=1 << 20, check=integer(1)),
    Option(key="max_message_bytes", kind=INT, default=64 << 20, check=integer(1024, (1 << 31) - 1)),
)

#: The round policy: written alike into ``server.toml`` and every ``silo.toml``.
POLICY = (
    Option(
        key="corruption",
        kind=NUMBER,
        default=0.05,
        check=number(positive=False, below=0.5),
        comment=(
            "fraction of the roster assumed to collude with the server, in [0, 0.5);\n"
            "same on server and silos"
        ),
    ),
    Option(
        key="dropout",
        kind=NUMBER,
        default=0.1,
        check=number(positive=False, below=1.0),
        comment="dropout rate the sparse graph is sized for, in [0, 1); same on server and silos",
    ),
    Option(
        key="min_participants",
        kind=INT,
        default=None,
        check=integer(2),
        comment=(
            "fewest silos in a round (the server waits for them; a silo refuses smaller "
            "rounds);\ndefault max(3, ceil(N / 2), floor(corruption * N) + 2), capped at N silos"
        ),
        formerly=("min_silos",),
    ),
    Option(
        key="full_graph_max",
        kind=INT,
        default=100,  # fedseal.secagg.graph.FULL_GRAPH_MAX (not imported: it pulls in numpy)
        check=integer(0),
        comment="rounds of at most this many silos use the complete graph",
    ),
)
POLICY_KEYS = tuple(option.key for option in POLICY)

PAILLIER_PUBLIC_KEY = Option(
    key="paillier_public_key",
    kind=STR,
    default=None,
    check=check_path,
    path=True,
    comment="the deployment's threshold Paillier public key (public)",
)

IDENTITIES = Option(
    key="identities",
    kind=TABLE,
    comment="Ed25519 public keys of the silos (hex): the secure-aggregation directory",
)


class _HasPolicy(Protocol):
    @property
    def corruption(self) -> float: ...

    @property
    def min_participants(self) -> int | None: ...


def check_round_policy(config: _HasPolicy, roster: str, roster_size: int) -> None:
    """Check the roster and ``min_participants`` against it; fill in its default.

    ``corruption``, ``dropout`` and ``full_graph_max`` are checked by their options first;
    ``roster`` names the field the ``roster_size`` silos come from.

    Raises
    ------
    ConfigError
        For fewer than 2 silos, or a ``min_participants`` above ``roster_size``.
    """
    if roster_size < 2:
        raise ConfigError(f"{roster} has {roster_size} silo(s); a deployment needs at least 2")
    if config.min_participants is None:
        # Imported here: the policy module pulls in the protocol package (and numpy), and
        # loading a config stays light.
        from fedseal.protocol.policy import default_min_participants

        minimum = default_min_participants(roster_size, config.corruption)
        object.__setattr__(config, "min_participants", minimum)
        return
    if config.min_participants > roster_size:
        raise ConfigError(
            f"min_participants ({config.min_participants}) exceeds the {roster_size} silos "
            f"in {roster}"
        )


def check_message_sizes(chunk_bytes: int, max_message_bytes: int) -> None:
    """Refuse a chunk that leaves less than 1 KiB of the message limit for framing.

    Raises
    ------
    ConfigError
        Naming both values.
    """
    if chunk_bytes > max_message_bytes - 1024:
        raise ConfigError(
            f"chunk_bytes ({chunk_bytes}) must leave 1 KiB of max_message_bytes "
            f"({max_message_bytes}) for framing"
        )
