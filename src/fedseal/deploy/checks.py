"""Validation of the values a deployment is made of, and of the TOML tables that carry them.

Each ``check_*`` raises :class:`~fedseal.errors.ConfigError` naming the parameter and the bad
value, and returns the value normalised. :func:`read_table` refuses unknown keys (a typo must
not be silently ignored) and values of the wrong TOML type. Standard library only.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fedseal.errors import ConfigError
from fedseal.names import RESERVED_NAMES, check_silo_name

__all__ = [
    "RESERVED_NAMES",
    "check_address",
    "check_deployment_id",
    "check_directory",
    "check_float",
    "check_host",
    "check_int",
    "check_public_key",
    "check_silo_name",
    "read_table",
    "read_toml",
    "split_address",
]

#: A deployment id written by ``fedseal provision`` (loaders accept any non-empty string).
DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_PUBLIC_KEY = re.compile(r"[0-9a-fA-F]{64}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def check_deployment_id(value: object, *, strict: bool = False) -> str:
    """A non-empty deployment id; with ``strict``, also a safe name (``[A-Za-z0-9._-]``)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"deployment_id must be a non-empty string, got {value!r}")
    if strict and not DEPLOYMENT_NAME.fullmatch(value):
        raise ConfigError(
            f"deployment name {value!r} is not valid: use 1-63 characters of A-Z, a-z, 0-9, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    return value


def check_public_key(name: str, value: object) -> str:
    """An Ed25519 public key as 64 hex digits; returned lower-case."""
    if not isinstance(value, str) or not _PUBLIC_KEY.fullmatch(value):
        raise ConfigError(f"{name} must be 64 hex digits (an Ed25519 public key), got {value!r}")
    return value.lower()


def check_directory(silos: object, identities: object) -> tuple[tuple[str, ...], Mapping[str, str]]:
    """Sorted silo names and a read-only ``silo -> public key hex`` map with the same names."""
    if isinstance(silos, str) or not isinstance(silos, tuple | list):
        raise ConfigError(f"silos must be a list of silo names, got {silos!r}")
    names: set[str] = set()
    for silo in silos:
        if check_silo_name(silo, "silos entry") in names:
            raise ConfigError(f"silos lists {silo!r} twice")
        names.add(silo)
    if not isinstance(identities, Mapping):
        raise ConfigError(f"identities must be a table of silo = public key, got {identities!r}")
    directory: dict[str, str] = {}
    for silo, key in identities.items():
        check_silo_name(silo, "identities entry")
        if silo not in names:
            raise ConfigError(f"identities names {silo!r}, which is not one of silos")
        directory[silo] = check_public_key(f"identities.{silo}", key)
    missing = sorted(names - set(directory))
    if missing:
        raise ConfigError(f"identities has no public key for silo {missing[0]!r}")
    if len(set(directory.values())) != len(directory):
        raise ConfigError("identities gives two silos the same public key")
    return tuple(sorted(names)), MappingProxyType(dict(sorted(directory.items())))


def check_host(host: object, what: str = "host") -> str:
    """A host name (RFC 1123) or an IPv4/IPv6 address without brackets."""
    if isinstance(host, str):
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            if _HOSTNAME.fullmatch(host):
                return host
    raise ConfigError(f"{what} {host!r} is neither a host name nor an IP address")


def split_address(name: str, value: object, *, allow_port_zero: bool) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into a host and a port."""
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{name} must be 'host:port', got {value!r}")
    host, _, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ConfigError(f"{name}: brackets are for IPv6 addresses, got {value!r}")
    elif ":" in host:
        raise ConfigError(f"{name}: write an IPv6 address in brackets, '[{host}]:port'")
    check_host(host, f"{name} host")
    low = 0 if allow_port_zero else 1
    if not port_text.isdigit() or not low <= int(port_text) <= 65535:
        raise ConfigError(f"{name} port must be an integer in [{low}, 65535], got {port_text!r}")
    return host, int(port_text)


def check_address(name: str, value: object, *, allow_port_zero: bool) -> str:
    """A valid ``host:port`` string, returned unchanged."""
    split_address(name, value, allow_port_zero=allow_port_zero)
    assert isinstance(value, str)
    return value


def check_int(name: str, value: object, *, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def check_float(name: str, value: object, *, positive: bool = True) -> float:
    """A finite number, > 0 (``positive``) or >= 0; returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or (value <= 0 if positive else value < 0):
        raise ConfigError(
            f"{name} must be a finite number {'>' if positive else '>='} 0, got {value}"
        )
    return float(value)


# -- TOML tables -----------------------------------------------------------------------------

_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "str": ("a string", lambda v: isinstance(v, str)),
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "strings": (
        "a list of strings",
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    ),
    "table": ("a table", lambda v: isinstance(v, dict)),
}


def read_toml(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Parse a TOML file; return its path and its top-level table."""
    file = Path(path)
    try:
        with file.open("rb") as f:
            return file, tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def read_table(
    data: Mapping[str, Any],
    kinds: Mapping[str, str],
    where: str,
    *,
    base: Path,
    paths: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check one TOML table's keys and value types, fill defaults, resolve paths.

    Parameters
    ----------
    data
        The table as :mod:`tomllib` returns it.
    kinds
        Every allowed key -> ``"str"``, ``"int"``, ``"number"``, ``"bool"``, ``"strings"``
        (a list of strings) or ``"table"``.
    where
        The file and table, for error messages (``"silo.toml [dp]"``).
    base
        Relative paths in keys named in ``paths`` are resolved against it (``~`` expands).
    defaults
        Values for keys the table leaves out.

    Raises
    ------
    ConfigError
        For an unknown key (suggesting a close known one) or a value of the wrong type.
    """
    for key in data:
        if key not in kinds:
            close = difflib.get_close_matches(key, list(kinds), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    out: dict[str, Any] = {}
    for key, value in {**(defaults or {}), **data}.items():
        description, accepts = _KINDS[kinds[key]]
        if not accepts(value):
            raise ConfigError(f"{where}: {key} must be {description}, got {value!r}")
        if key in paths:
            if not value:
                raise ConfigError(f"{where}: {key} must be a path, got an empty string")
            path = Path(value).expanduser()
            value = path if path.is_absolute() else base / path
        out[key] = value
    return out
