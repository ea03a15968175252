"""Validation of the values a deployment is made of: the checks of the schema's options.

Each ``check_*`` raises :class:`~fedseal.errors.ConfigError` naming the parameter and the bad
value, and returns the value normalised. The lower-case factories (:func:`integer`,
:func:`number`, :func:`one_of`, ...) make a :data:`~fedseal.config.schema.Check` for an
:class:`~fedseal.config.schema.Option` out of them. ``fedseal provision`` uses the same checks
for its own arguments. Standard library only.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from fedseal.config.schema import Check
from fedseal.errors import ConfigError
from fedseal.names import check_silo_name

__all__ = [
    "DEPLOYMENT_NAME",
    "address",
    "check_address",
    "check_deployment_id",
    "check_directory",
    "check_flag",
    "check_float",
    "check_host",
    "check_int",
    "check_path",
    "check_public_key",
    "deployment_id",
    "instance_of",
    "integer",
    "non_empty",
    "number",
    "one_of",
    "public_key",
    "silo_name",
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


def check_flag(name: str, value: object) -> bool:
    """A ``bool`` (TOML ``true`` or ``false``)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be a bool, got {value!r}")
    return value


def check_path(name: str, value: object) -> Path:
    """A non-empty path (``str`` or ``os.PathLike``), returned as a :class:`~pathlib.Path`."""
    if isinstance(value, str | os.PathLike) and str(value):
        return Path(value)
    raise ConfigError(f"{name} must be a path, got {value!r}")


# -- checks for schema options ---------------------------------------------------------------


def integer(low: int, high: int | None = None) -> Check:
    """:func:`check_int` with these bounds."""

    def check(name: str, value: object) -> int:
        return check_int(name, value, low=low, high=high)

    return check


def number(*, positive: bool = True, below: float | None = None) -> Check:
    """:func:`check_float`; with ``below`` (and ``positive=False``), also in ``[0, below)``."""

    def check(name: str, value: object) -> float:
        result = check_float(name, value, positive=positive)
        if below is not None and not result < below:
            raise ConfigError(f"{name} must be in [0, {below:g}), got {value!r}")
        return result

    return check


def one_of(*choices: object) -> Check:
    """One of ``choices`` (never a ``bool``): ``modulus_bits must be 32 or 64, got 48``."""
    names = [repr(choice) for choice in choices]
    wanted = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)

    def check(name: str, value: object) -> object:
        if isinstance(value, bool) or value not in choices:
            raise ConfigError(f"{name} must be {wanted}, got {value!r}")
        return value

    return check


def instance_of(cls: type) -> Check:
    """An instance of ``cls`` (a table built into its dataclass)."""

    def check(name: str, value: object) -> object:
        if not isinstance(value, cls):
            raise ConfigError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        return value

    return check


def address(*, allow_port_zero: bool) -> Check:
    """:func:`check_address`: a ``host:port`` string."""

    def check(name: str, value: object) -> str:
        return check_address(name, value, allow_port_zero=allow_port_zero)

    return check


def deployment_id(name: str, value: object) -> str:
    """:func:`check_deployment_id` (any non-empty string), as an option's check."""
    return check_deployment_id(value)


def silo_name(name: str, value: object) -> str:
    """:func:`~fedseal.names.check_silo_name`, as an option's check."""
    return check_silo_name(value, name)


def public_key(name: str, value: object) -> str:
    """:func:`check_public_key`, as an option's check."""
    return check_public_key(name, value)


def non_empty(name: str, value: object) -> str:
    """A string that is not blank."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value
