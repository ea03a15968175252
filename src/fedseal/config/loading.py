"""Reading ``server.toml`` and ``silo.toml`` into their validated dataclasses.

The loaders are driven by the schema tables (:data:`fedseal.config.server.SERVER`,
:data:`fedseal.config.silo.SILO` and the tables of their ``[tls]``, ``[dp]`` and ``[strategy]``
options): an unknown key is refused (with the closest known key as a hint), a value of the
wrong TOML type is refused, keys the file leaves out get their defaults, paths resolve against
the file's folder, and every :class:`~fedseal.errors.ConfigError` names the file and the key.

Standard library only at import time (:mod:`tomllib` reads TOML).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from fedseal.config.schema import STRINGS, Kind, Table
from fedseal.config.server import SERVER, ServerConfig
from fedseal.config.silo import SILO, SiloConfig
from fedseal.errors import ConfigError

__all__ = ["load_server_config", "load_silo_config", "read_table", "read_toml"]

_KINDS: dict[Kind, tuple[str, Callable[[Any], bool]]] = {
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

_T = TypeVar("_T")


def read_toml(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Parse a TOML file; return its path and its top-level table.

    Raises
    ------
    ConfigError
        If the file cannot be read or is not TOML.
    """
    file = Path(path)
    try:
        with file.open("rb") as f:
            return file, tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def read_table(data: Mapping[str, Any], table: Table, where: str, *, base: Path) -> dict[str, Any]:
    """Check one TOML table's keys and value types, fill in defaults, resolve paths.

    Parameters
    ----------
    data
        The table as :mod:`tomllib` returns it.
    table
        Its schema: the allowed keys, their TOML types, defaults and which hold paths.
    where
        The file and table, for error messages (``"silo.toml [dp]"``).
    base
        Relative paths are resolved against it (``~`` expands).

    Raises
    ------
    ConfigError
        For an unknown key (suggesting a close known one) or a value of the wrong type.
    """
    kinds, paths = table.kinds(), table.paths()
    for key in data:
        if key not in kinds:
            close = difflib.get_close_matches(key, list(kinds), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    for key, value in data.items():
        description, accepts = _KINDS[kinds[key]]
        if not accepts(value):
            raise ConfigError(f"{where}: {key} must be {description}, got {value!r}")
    out: dict[str, Any] = {}
    for key, value in (table.fill_ins() | dict(data)).items():
        if key in paths:
            if not value:
                raise ConfigError(f"{where}: {key} must be a path, got an empty string")
            path = Path(value).expanduser()
            value = path if path.is_absolute() else base / path
        out[key] = value
    return out


def _build(cls: Callable[..., _T], values: dict[str, Any], where: str, table: Table) -> _T:
    for key in table.required():
        if key not in values:
            raise ConfigError(f"{where}: missing key {key!r}")
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _load(path: str | os.PathLike[str], table: Table) -> tuple[str, dict[str, Any]]:
    """Read a config file: its keys checked, tables built, lists made tuples, paths resolved."""
    file, data = read_toml(path)
    where, base = str(file), file.resolve().parent
    for option in table.options:
        for old in option.formerly:
            if old in data:
                raise ConfigError(
                    f"{where}: {old} was renamed {option.key}; rename the key (and check its "
                    f"value: each silo refuses rounds smaller than its own {option.key})"
                )
    values = read_table(data, table, where, base=base)
    for option in table.options:
        if option.key not in values:
            continue
        if option.table is not None and option.build is not None:
            inner = f"{where} [{option.key}]"
            table_values = read_table(values[option.key], option.table, inner, base=base)
            values[option.key] = _build(option.build, table_values, inner, option.table)
        elif option.kind == STRINGS:
            values[option.key] = tuple(values[option.key])
    return where, values


def load_server_config(path: str | os.PathLike[str]) -> ServerConfig:
    """Read and validate ``server.toml``.

    Parameters
    ----------
    path
        The config file. Relative paths inside it are relative to its directory.

    Raises
    ------
    ConfigError
        If the file is missing or not TOML, has an unknown key, lacks ``deployment_id``,
        ``silos`` or ``[identities]``, or holds a value of the wrong type or out of range.
        The message names the file and the key.
    """
    where, values = _load(path, SERVER)
    return _build(ServerConfig, values, where, SERVER)


def load_silo_config(path: str | os.PathLike[str]) -> SiloConfig:
    """Read and validate ``silo.toml``.

    Parameters
    ----------
    path
        The config file. Relative paths inside it are relative to its directory.

    Raises
    ------
    ConfigError
        If the file is missing or not TOML, has an unknown key (also inside ``[tls]`` and
        ``[dp]``), lacks ``deployment_id``, ``silo``, ``server_identity`` or
        ``[identities]``, or holds a value of the wrong type or out of range. The message
        names the file and the key.
    """
    where, values = _load(path, SILO)
    return _build(SiloConfig, values, where, SILO)
