"""The deployment folder's layout and the TOML documents ``fedseal provision`` writes.

``deployment.toml`` (the manifest) records the deployment id and the server's host and port;
it marks a folder as a deployment and is read back when silos are added. ``server.toml`` and
``silo.toml`` documents list every option with its default (from the dataclasses in
:mod:`fedseal.deploy.config`), with short comments, and are validated by building the config
they describe before they are written.

The round policy (:data:`POLICY_KEYS`) is written alike into ``server.toml`` and every
``silo.toml``, with ``min_participants`` computed for the roster
(:func:`~fedseal.protocol.policy.default_min_participants`). When silos are added the roster
grows: :func:`grow_roster` raises a ``min_participants`` that still holds the old roster's
default to the new one, and keeps (and reports) a value the operator chose.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from fedseal.deploy.checks import check_deployment_id, check_host, check_int
from fedseal.deploy.config import (
    DEFAULT_NOISE_MULTIPLIER,
    DPSettings,
    ServerConfig,
    SiloConfig,
    TlsFiles,
)
from fedseal.deploy.files import dumps_toml, write_atomic
from fedseal.deploy.strategy_config import StrategySettings
from fedseal.errors import ConfigError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MANIFEST_HEADER",
    "POLICY_KEYS",
    "addresses",
    "config_defaults",
    "fit_modulus",
    "grow_roster",
    "read_manifest",
    "read_raw",
    "server_document",
    "silo_document",
    "validate_document",
    "write_config",
]

MANIFEST = "deployment.toml"
FORMAT = "fedseal-deployment/1"
MANIFEST_HEADER = (
    "A fedseal deployment folder, made by `fedseal provision` (which reads this file back\n"
    "when you add silos). The server and silos do not read it."
)
_HEADER = (
    "fedseal {what} config, written by `fedseal provision`.\n"
    "Paths are relative to this file. Re-running `fedseal provision` to add silos rewrites\n"
    "the silo list, [identities] and a default min_participants; it keeps your other values\n"
    "but not your comments."
)
_COMMENTS = {
    "listen": "host:port to serve on",
    "revoked": "silos refused even with a valid certificate",
    "min_participants": (
        "fewest silos in a round (the server waits for them; a silo refuses smaller rounds);\n"
        "default max(3, ceil(N / 2), floor(corruption * N) + 2), capped at N silos"
    ),
    "dropout": "dropout rate the sparse graph is sized for, in [0, 1); same on server and silos",
    "full_graph_max": "rounds of at most this many silos use the complete graph",
    "aggregation": (
        '"masking" (secure aggregation), "paillier" (threshold Paillier; needs\n'
        'paillier_public_key) or "none" (INSECURE, benchmarks only)'
    ),
    "paillier_public_key": "the deployment's threshold Paillier public key (public)",
    "paillier_key_share": "this silo's Paillier key share: secret (0600); keep it on this silo",
    "paillier_allow_insecure_bits": "accept a Paillier key below 2048 bits: INSECURE, tests only",
    "identities": "Ed25519 public keys of the silos (hex): the secure-aggregation directory",
    "server_name": "name the server's TLS certificate must carry",
    "server_identity": "the server's Ed25519 public key (hex): verifies its audit checkpoints",
    "corruption": (
        "fraction of the roster assumed to collude with the server, in [0, 0.5);\n"
        "same on server and silos"
    ),
    "dp": "differential privacy (DP-SGD); enabled = false trains without it",
    "dp.noise_multiplier": (
        "sigma in units of max_grad_norm; or replace it by target_epsilon and planned_rounds"
    ),
    "dp.allow_budget_increase": (
        "set true only to raise epsilon_budget above what this silo's ledger holds; the\n"
        "change is recorded in the ledger, audited and shown in the privacy report"
    ),
    "dp.neighbouring_relation": (
        '"add_remove" (one record added or removed) or "replace_one" (one record replaced,\n'
        'record count public; needs accountant = "rdp"); fixed once the ledger exists'
    ),
    "strategy": (
        "the federated optimiser: name = fedavg | fedprox (proximal_mu) | fedadagrad |\n"
        "fedadam | fedyogi (server_lr, beta1, beta2, tau); silo_lr and local_epochs are\n"
        "sent to every silo each round (DP silos ignore local_epochs)"
    ),
    "fedavg_weight": (
        "this silo's FedAvg weight, declared and public (never its live record count)"
    ),
}


def config_defaults(cls: type) -> dict[str, Any]:
    """The scalar defaults of a config dataclass, in field order."""
    return {
        f.name: f.default
        for f in fields(cls)
        if f.default is not MISSING and isinstance(f.default, bool | int | float | str)
    }


#: The round policy: written alike into ``server.toml`` and every ``silo.toml``.
POLICY_KEYS = ("corruption", "dropout", "min_participants", "full_graph_max")


def _default_min_participants(roster_size: int, corruption: object) -> int | None:
    from fedseal.protocol.policy import default_min_participants

    if isinstance(corruption, bool) or not isinstance(corruption, int | float):
        return None  # a bad value: validation names it
    try:
        return default_min_participants(roster_size, float(corruption))
    except ConfigError:
        return None


def _defaults_for(cls: type, roster_size: int) -> dict[str, Any]:
    """``config_defaults(cls)`` plus ``min_participants`` for the roster, in field order."""
    defaults = config_defaults(cls)
    minimum = _default_min_participants(roster_size, defaults["corruption"])
    return {
        f.name: minimum if f.name == "min_participants" else defaults[f.name]
        for f in fields(cls)
        if f.name in defaults or f.name == "min_participants"
    }


def grow_roster(doc: dict[str, Any], old_size: int, new_size: int, what: str) -> str | None:
    """Update a config document's round policy for a roster grown from ``old_size`` silos.

    Writes every key of :data:`POLICY_KEYS` the document leaves out (with its default). A
    ``min_participants`` that is missing or equal to the old roster's default becomes the new
    roster's default; any other value was the operator's choice and is kept.

    Returns
    -------
    str or None
        A note for the operator when a chosen ``min_participants`` was kept.
    """
    corruption = doc.setdefault("corruption", config_defaults(ServerConfig)["corruption"])
    doc.setdefault("dropout", config_defaults(ServerConfig)["dropout"])
    doc.setdefault("full_graph_max", config_defaults(ServerConfig)["full_graph_max"])
    old = _default_min_participants(old_size, corruption)
    new = _default_min_participants(new_size, corruption)
    current = doc.get("min_participants")
    if new is not None and current in (None, old):
        doc["min_participants"] = new
        return None
    if current != new and old_size != new_size:
        return (
            f"{what}: min_participants kept at {current!r} (the default for {new_size} silos "
            f"is {new})"
        )
    return None


def addresses(host: str, port: int) -> tuple[str, str, str]:
    """``(listen, server_address, server_name)`` for a server on ``host``."""

    def join(h: str) -> str:
        return f"[{h}]:{port}" if ":" in h else f"{h}:{port}"

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return join(host), join(host), host
    # A wildcard address is for binding; silos on the same machine reach it via loopback.
    connect = ("127.0.0.1" if ip.version == 4 else "::1") if ip.is_unspecified else host
    return join(host), join(connect), "localhost"


def server_document(deployment: str, listen: str, identities: Mapping[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "deployment_id": deployment,
        "listen": listen,
        "silos": sorted(identities),
        "revoked": [],
        "identity_key": "identity.key",
        "state_dir": "state",
        "audit_log": "audit.jsonl",
    }
    doc |= _defaults_for(ServerConfig, len(identities))
    doc["tls"] = {"ca_cert": "ca.crt", "cert": "server.crt", "key": "server.key"}
    doc["strategy"] = {"name": "fedavg"}
    doc["identities"] = dict(sorted(identities.items()))
    return doc


def silo_document(
    deployment: str,
    silo: str,
    manifest: Mapping[str, Any],
    server_identity: str,
    identities: Mapping[str, str],
) -> dict[str, Any]:
    _, server_address, server_name = addresses(manifest["host"], manifest["port"])
    doc: dict[str, Any] = {
        "deployment_id": deployment,
        "silo": silo,
        "server_address": server_address,
        "server_name": server_name,
        "server_identity": server_identity,
        "identity_key": "identity.key",
        "state_dir": "state",
        "audit_log": "audit.jsonl",
    }
    doc |= {k: v for k, v in _defaults_for(SiloConfig, len(identities)).items() if k not in doc}
    doc["tls"] = {"ca_cert": "ca.crt", "cert": "silo.crt", "key": "silo.key"}
    doc["dp"] = config_defaults(DPSettings) | {"noise_multiplier": DEFAULT_NOISE_MULTIPLIER}
    doc["identities"] = dict(sorted(identities.items()))
    return doc


def fit_modulus(doc: dict[str, Any]) -> tuple[str, ...]:
    """Switch a 32-bit modulus to 64 bits when the silos' sum could wrap around it."""
    default = config_defaults(ServerConfig)
    n, bits = len(doc["silos"]), doc.get("bits", default["bits"])
    weight = doc.get("max_weight", default["max_weight"])
    modulus = doc.get("modulus_bits", default["modulus_bits"])
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (bits, weight, modulus)):
        return ()  # a bad value: validation names it
    if modulus != 32 or n * weight * ((1 << bits) - 1) < 1 << 32:
        return ()
    doc["modulus_bits"] = 64
    return (
        f"server.toml: modulus_bits set to 64, since {n} silos * max_weight {weight} * "
        f"(2^{bits} - 1) does not fit below 2^32",
    )


def validate_document(doc: Mapping[str, Any], what: str) -> None:
    """Build the config a generated document describes, so a bad one is never written."""
    values = dict(doc)
    values["tls"] = TlsFiles(**doc["tls"])
    try:
        if "silo" in doc:
            SiloConfig(**values | {"dp": DPSettings(**doc["dp"])})
        else:
            ServerConfig(**values | {"strategy": StrategySettings(**doc.get("strategy", {}))})
    except ConfigError as exc:
        raise ConfigError(f"{what} would be invalid: {exc}") from None


def write_config(path: Path, doc: Mapping[str, Any], what: str) -> None:
    text = dumps_toml(doc, header=_HEADER.format(what=what), comments=_COMMENTS)
    write_atomic(path, text.encode("utf-8"))


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path}: format must be {FORMAT!r}, got {data.get('format')!r}")
    check_deployment_id(data.get("deployment_id"))
    check_host(data.get("host"), f"{path}: host")
    check_int(f"{path}: port", data.get("port"), low=1, high=65535)
    return data


def read_raw(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
