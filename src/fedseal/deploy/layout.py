"""The deployment folder's layout and the TOML documents ``fedseal provision`` writes.

``deployment.toml`` (the manifest) records the deployment id and the server's host and port;
it marks a folder as a deployment and is read back when silos are added. ``server.toml`` and
``silo.toml`` documents list the options of their schema tables (:data:`fedseal.config.SERVER`,
:data:`fedseal.config.SILO`) in table order, with their defaults and comments
(:meth:`~fedseal.config.schema.Table.document`), and are validated by building the config they
describe before they are written.

The round policy (:data:`~fedseal.config.common.POLICY_KEYS`) is written alike into
``server.toml`` and every ``silo.toml``, with ``min_participants`` computed for the roster
(:func:`~fedseal.protocol.policy.default_min_participants`). When silos are added the roster
grows: :func:`grow_roster` raises a ``min_participants`` that still holds the old roster's
default to the new one, and keeps (and reports) a value the operator chose.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedseal.config.checks import check_deployment_id, check_host, check_int
from fedseal.config.dp import DEFAULT_NOISE_MULTIPLIER, DP
from fedseal.config.schema import Table
from fedseal.config.server import SERVER, ServerConfig
from fedseal.config.silo import SILO, SiloConfig
from fedseal.deploy.files import dumps_toml, write_atomic
from fedseal.errors import ConfigError
from fedseal.secagg.quantize import fits_modulus

__all__ = [
    "FORMAT",
    "MANIFEST",
    "MANIFEST_HEADER",
    "addresses",
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


def _schema(doc: Mapping[str, Any]) -> Table:
    """The schema table of a config document: a silo's names its silo."""
    return SILO if "silo" in doc else SERVER


def _default_min_participants(roster_size: int, corruption: object) -> int | None:
    from fedseal.protocol.policy import default_min_participants

    if isinstance(corruption, bool) or not isinstance(corruption, int | float):
        return None  # a bad value: validation names it
    try:
        return default_min_participants(roster_size, float(corruption))
    except ConfigError:
        return None


def grow_roster(doc: dict[str, Any], old_size: int, new_size: int, what: str) -> str | None:
    """Update a config document's round policy for a roster grown from ``old_size`` silos.

    Writes every key of :data:`~fedseal.config.common.POLICY_KEYS` the document leaves out
    (with its default). A ``min_participants`` that is missing or equal to the old roster's
    default becomes the new roster's default; any other value was the operator's choice and is
    kept.

    Returns
    -------
    str or None
        A note for the operator when a chosen ``min_participants`` was kept.
    """
    corruption = doc.setdefault("corruption", SERVER.default("corruption"))
    doc.setdefault("dropout", SERVER.default("dropout"))
    doc.setdefault("full_graph_max", SERVER.default("full_graph_max"))
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


def server_document(
    deployment: str, listen: str, identities: Mapping[str, object]
) -> dict[str, Any]:
    """The ``server.toml`` of a new deployment: :data:`~fedseal.config.SERVER`'s defaults.

    ``identities`` maps each silo to its public key (hex), or to a stand-in that the caller
    fills in later (:class:`fedseal.deploy.provision.plan.Ref`).
    """
    minimum = _default_min_participants(len(identities), SERVER.default("corruption"))
    return SERVER.document(
        {
            "deployment_id": deployment,
            "listen": listen,
            "silos": sorted(identities),
            "min_participants": minimum,
            "identities": dict(sorted(identities.items())),
        }
    )


def silo_document(
    deployment: str,
    silo: str,
    manifest: Mapping[str, Any],
    server_identity: object,
    identities: Mapping[str, object],
) -> dict[str, Any]:
    """A new silo's ``silo.toml``: :data:`~fedseal.config.SILO`'s defaults.

    The public keys may be stand-ins, as for :func:`server_document`.
    """
    _, server_address, server_name = addresses(manifest["host"], manifest["port"])
    minimum = _default_min_participants(len(identities), SILO.default("corruption"))
    return SILO.document(
        {
            "deployment_id": deployment,
            "silo": silo,
            "server_address": server_address,
            "server_name": server_name,
            "server_identity": server_identity,
            "min_participants": minimum,
            "dp": DP.document({"noise_multiplier": DEFAULT_NOISE_MULTIPLIER}),
            "identities": dict(sorted(identities.items())),
        }
    )


def fit_modulus(doc: dict[str, Any]) -> tuple[str, ...]:
    """Switch a 32-bit modulus to 64 bits when the silos' sum could wrap around it.

    Returns
    -------
    tuple of str
        A note for the operator when the modulus was switched.
    """
    n = len(doc["silos"])
    bits, weight, modulus = (
        doc.get(k, SERVER.default(k)) for k in ("bits", "max_weight", "modulus_bits")
    )
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (bits, weight, modulus)):
        return ()  # a bad value: validation names it
    if modulus != 32 or fits_modulus(max_silos=n, max_weight=weight, bits=bits, modulus_bits=32):
        return ()
    doc["modulus_bits"] = 64
    return (
        f"server.toml: modulus_bits set to 64, since {n} silos * max_weight {weight} * "
        f"(2^{bits} - 1) does not fit below 2^32",
    )


def validate_document(doc: Mapping[str, Any], what: str) -> None:
    """Build the config a generated document describes, so a bad one is never written."""
    schema = _schema(doc)
    values = dict(doc)
    try:
        for option in schema.options:  # [tls], [dp], [strategy]: built into their dataclasses
            if option.build is not None:
                values[option.key] = option.build(**doc.get(option.key, {}))
        (SiloConfig if schema is SILO else ServerConfig)(**values)
    except ConfigError as exc:
        raise ConfigError(f"{what} would be invalid: {exc}") from None


def write_config(path: Path, doc: Mapping[str, Any], what: str) -> None:
    """Write a config document atomically, with the header and its options' comments."""
    comments = _schema(doc).comments()
    text = dumps_toml(doc, header=_HEADER.format(what=what), comments=comments)
    write_atomic(path, text.encode("utf-8"))


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check ``deployment.toml``."""
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
    """A TOML file's top-level table, unchecked (to rewrite a config keeping its values)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
