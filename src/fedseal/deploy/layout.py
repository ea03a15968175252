"""The deployment folder's layout and the TOML documents ``fedseal provision`` writes.

``deployment.toml`` (the manifest) records the deployment id and the server's host and port;
it marks a folder as a deployment and is read back when silos are added. ``server.toml`` and
``silo.toml`` documents list every option with its default (from the dataclasses in
:mod:`fedseal.deploy.config`), with short comments, and are validated by building the config
they describe before they are written.
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
from fedseal.errors import ConfigError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MANIFEST_HEADER",
    "addresses",
    "config_defaults",
    "fit_modulus",
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
    "the silo list and [identities]; it keeps your values but not your comments."
)
_COMMENTS = {
    "listen": "host:port to serve on",
    "revoked": "silos refused even with a valid certificate",
    "min_silos": "fewest ready silos to start a round",
    "aggregation": (
        '"masking" (secure aggregation), "paillier" (threshold Paillier; needs\n'
        'paillier_public_key) or "none" (INSECURE, benchmarks only)'
    ),
    "paillier_public_key": "the deployment's threshold Paillier public key (public)",
    "paillier_key_share": "this silo's Paillier key share: secret (0600); keep it on this silo",
    "identities": "Ed25519 public keys of the silos (hex): the secure-aggregation directory",
    "server_name": "name the server's TLS certificate must carry",
    "server_identity": "the server's Ed25519 public key (hex): verifies its audit checkpoints",
    "corruption": "fraction of silos assumed to collude with the server, in [0, 0.5)",
    "dp": "differential privacy (DP-SGD); enabled = false trains without it",
    "dp.noise_multiplier": (
        "sigma in units of max_grad_norm; or replace it by target_epsilon and planned_rounds"
    ),
}


def config_defaults(cls: type) -> dict[str, Any]:
    """The scalar defaults of a config dataclass, in field order."""
    return {
        f.name: f.default
        for f in fields(cls)
        if f.default is not MISSING and isinstance(f.default, bool | int | float | str)
    }


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
    doc |= config_defaults(ServerConfig)
    doc["tls"] = {"ca_cert": "ca.crt", "cert": "server.crt", "key": "server.key"}
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
    doc |= {k: v for k, v in config_defaults(SiloConfig).items() if k not in doc}
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
            ServerConfig(**values)
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
