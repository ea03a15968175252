"""Careful file writing for a deployment folder, and a tiny TOML writer.

* :func:`write_new` creates a file that must not exist yet (``O_CREAT | O_EXCL``) with its final
  mode from the first byte: a private key is never world-readable, not even for a moment, and is
  never overwritten (there is no ``chmod`` after the write).
* :func:`write_atomic` replaces a config file through a temporary file and ``os.replace``, so a
  reader sees the old file or the new one, never half of either.
* :func:`dumps_toml` writes the small TOML subset our configs use (TOML 1.0: strings, integers,
  floats, booleans, arrays of those, and tables); the standard library only *reads* TOML
  (:mod:`tomllib`), and we add no dependency for writing it.

Standard library only.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedseal.errors import ConfigError

__all__ = [
    "check_private_dir",
    "check_private_file",
    "dumps_toml",
    "fsync_dir",
    "make_private_dir",
    "write_atomic",
    "write_new",
]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_ESCAPES["\r"] = "\\r"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in directory ``path`` durable (fsync the directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def write_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` and permission ``mode``; refuse if it already exists.

    Raises
    ------
    ConfigError
        If ``path`` exists (it is never overwritten), or cannot be created.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        raise ConfigError(f"refusing to overwrite existing file {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``path`` (new or replaced) through a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    fsync_dir(path.parent)


def make_private_dir(path: Path) -> None:
    """Create directory ``path`` (mode 0700); an existing one must not be group/world-open."""
    try:
        path.mkdir(mode=0o700, parents=False, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create directory {path}: {exc.strerror}") from None
    check_private_dir(path)


def check_private_dir(path: Path) -> None:
    """Refuse ``path`` unless it is a directory other users cannot access (0700 or tighter).

    Raises
    ------
    ConfigError
        If ``path`` is not a directory, or its group or other users may access it.
    """
    if not path.is_dir():
        raise ConfigError(f"{path} exists and is not a directory")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"directory {path} is accessible to other users; chmod 700 it")


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file other users can read; warn if its group can.

    Raises
    ------
    ConfigError
        If ``path`` is missing, or is readable or writable by every user (``chmod 600`` it).
    """
    import warnings

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    if mode & 0o007:
        raise ConfigError(
            f"{what} {path} is accessible to every user (mode {mode & 0o777:o}); chmod 600 it"
        )
    if mode & 0o070:
        warnings.warn(
            f"{what} {path} is accessible to its group (mode {mode & 0o777:o}); "
            "chmod 600 it unless that is intended",
            stacklevel=3,
        )


# -- TOML -----------------------------------------------------------------------------------


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-trip form: "1.0", "1e-05", "1e+16" are all TOML
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = [_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if any(isinstance(item, Mapping) for item in value):
            raise TypeError(f"{where}: arrays of tables are not supported")
        return "[" + ", ".join(items) + "]"
    raise TypeError(f"{where}: cannot write {type(value).__name__} as TOML")


def _table(
    data: Mapping[str, Any], path: tuple[str, ...], comments: Mapping[str, str], out: list[str]
) -> None:
    tables = []
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"TOML keys are strings, got {key!r}")
        dotted = ".".join((*path, key))
        if isinstance(value, Mapping):
            tables.append((key, value))
            continue
        if dotted in comments:
            out.extend(f"# {line}".rstrip() for line in comments[dotted].splitlines())
        out.append(f"{_key(key)} = {_value(value, dotted)}")
    for key, value in tables:
        sub = (*path, key)
        out.append("")
        dotted = ".".join(sub)
        if dotted in comments:
            out.extend(f"# {line}".rstrip() for line in comments[dotted].splitlines())
        out.append("[" + ".".join(_key(k) for k in sub) + "]")
        _table(value, sub, comments, out)


def dumps_toml(
    data: Mapping[str, Any], *, header: str = "", comments: Mapping[str, str] | None = None
) -> str:
    """Serialise ``data`` as TOML 1.0 that :func:`tomllib.loads` reads back equal.

    Parameters
    ----------
    data
        Keys are strings; values are ``str``, ``int``, ``float``, ``bool``, lists of those, or
        nested mappings (written as ``[tables]`` after the plain keys).
    header
        Comment lines written first.
    comments
        Comment lines written above a key or table, by dotted path (``"tls"``, ``"dp.delta"``).

    Raises
    ------
    TypeError
        For a value of another type (``None``, bytes, arrays of tables, ...).
    """
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    if out:
        out.append("")
    _table(data, (), comments or {}, out)
    return "\n".join(out).strip("\n") + "\n"
