"""Reading ``server.toml`` and ``silo.toml`` into the validated dataclasses of
:mod:`fedseal.deploy.config` (which re-exports :func:`load_server_config` and
:func:`load_silo_config`). Unknown keys are refused; paths resolve against the file's folder.

Standard library only at import time (:mod:`tomllib` reads TOML).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from fedseal.deploy.checks import (
    read_table,
    read_toml,
)
from fedseal.deploy.config import (
    DPSettings,
    ServerConfig,
    SiloConfig,
    TlsFiles,
)
from fedseal.deploy.strategy_config import StrategySettings
from fedseal.errors import ConfigError

__all__ = ["load_server_config", "load_silo_config"]


_STR, _INT, _NUM, _BOOL, _STRS, _TABLE = "str", "int", "number", "bool", "strings", "table"
#: Keys whose value is a path, resolved against the config file's directory.
_PATH_KEYS = frozenset(
    {"identity_key", "state_dir", "audit_log", "ca_cert", "cert", "key"}
    | {"paillier_public_key", "paillier_key_share"}
)
_COMMON: dict[str, str] = {
    "deployment_id": _STR,
    "identity_key": _STR,
    "identities": _TABLE,
    "state_dir": _STR,
    "audit_log": _STR,
    "chunk_bytes": _INT,
    "max_message_bytes": _INT,
    "tls": _TABLE,
}
_SERVER: dict[str, str] = _COMMON | {
    "listen": _STR,
    "silos": _STRS,
    "revoked": _STRS,
    "rounds": _INT,
    "corruption": _NUM,
    "dropout": _NUM,
    "min_participants": _INT,
    "full_graph_max": _INT,
    "aggregation": _STR,
    "stage_timeout_s": _NUM,
    "train_timeout_s": _NUM,
    "connect_timeout_s": _NUM,
    "clip": _NUM,
    "bits": _INT,
    "max_weight": _INT,
    "modulus_bits": _INT,
    "paillier_public_key": _STR,
    "strategy": _TABLE,
}
_STRATEGY: dict[str, str] = {
    "name": _STR,
    "server_lr": _NUM,
    "proximal_mu": _NUM,
    "beta1": _NUM,
    "beta2": _NUM,
    "tau": _NUM,
    "silo_lr": _NUM,
    "local_epochs": _INT,
}
_SILO: dict[str, str] = _COMMON | {
    "silo": _STR,
    "server_address": _STR,
    "server_name": _STR,
    "server_identity": _STR,
    "dp": _TABLE,
    "reconnect_max_s": _NUM,
    "corruption": _NUM,
    "dropout": _NUM,
    "min_participants": _INT,
    "full_graph_max": _INT,
    "fedavg_weight": _INT,
    "allow_plaintext": _BOOL,
    "paillier_public_key": _STR,
    "paillier_key_share": _STR,
    "paillier_allow_insecure_bits": _BOOL,
}
#: Keys of earlier versions -> their new name (refused with a pointer to the new key).
_RENAMED = {"min_silos": "min_participants"}
_TLS: dict[str, str] = {"ca_cert": _STR, "cert": _STR, "key": _STR}
_DP: dict[str, str] = {
    "enabled": _BOOL,
    "epsilon_budget": _NUM,
    "delta": _NUM,
    "noise_multiplier": _NUM,
    "target_epsilon": _NUM,
    "planned_rounds": _INT,
    "max_grad_norm": _NUM,
    "accountant": _STR,
    "allow_budget_increase": _BOOL,
    "sample_rate": _NUM,
    "neighbouring_relation": _STR,
}
#: Defaults of the keys a file may leave out although the dataclass requires them.
_SERVER_DEFAULTS = {
    "listen": "127.0.0.1:50051",
    "identity_key": "identity.key",
    "state_dir": "state",
    "audit_log": "audit.jsonl",
}
_SILO_DEFAULTS = _SERVER_DEFAULTS | {"server_address": _SERVER_DEFAULTS["listen"]}
del _SILO_DEFAULTS["listen"]
_SERVER_TLS = {"ca_cert": "ca.crt", "cert": "server.crt", "key": "server.key"}
_SILO_TLS = {"ca_cert": "ca.crt", "cert": "silo.crt", "key": "silo.key"}

_T = TypeVar("_T")


def _build(
    cls: Callable[..., _T], values: dict[str, Any], where: str, required: tuple[str, ...]
) -> _T:
    for key in required:
        if key not in values:
            raise ConfigError(f"{where}: missing key {key!r}")
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read(
    path: str | os.PathLike[str],
    kinds: Mapping[str, str],
    defaults: Mapping[str, str],
    tls_defaults: Mapping[str, str],
) -> tuple[str, dict[str, Any]]:
    """Read a config file's top level and its ``[tls]`` table; paths resolved."""
    file, data = read_toml(path)
    where, base = str(file), file.resolve().parent
    for old, new in _RENAMED.items():
        if old in data and old not in kinds:
            raise ConfigError(
                f"{where}: {old} was renamed {new}; rename the key (and check its value: each "
                f"silo refuses rounds smaller than its own {new})"
            )
    values = read_table(data, kinds, where, base=base, paths=_PATH_KEYS, defaults=defaults)
    tls = read_table(
        values.get("tls", {}), _TLS, f"{where} [tls]", base=base, paths=_PATH_KEYS,
        defaults=tls_defaults,
    )  # fmt: skip
    values["tls"] = _build(TlsFiles, tls, f"{where} [tls]", ())
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
    where, values = _read(path, _SERVER, _SERVER_DEFAULTS, _SERVER_TLS)
    for key in ("silos", "revoked"):
        if key in values:
            values[key] = tuple(values[key])
    if "strategy" in values:
        table = read_table(values["strategy"], _STRATEGY, f"{where} [strategy]", base=Path())
        values["strategy"] = _build(StrategySettings, table, f"{where} [strategy]", ())
    return _build(ServerConfig, values, where, ("deployment_id", "silos", "identities"))


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
    where, values = _read(path, _SILO, _SILO_DEFAULTS, _SILO_TLS)
    if "dp" in values:
        dp = read_table(values["dp"], _DP, f"{where} [dp]", base=Path())
        values["dp"] = _build(DPSettings, dp, f"{where} [dp]", ())
    required = ("deployment_id", "silo", "server_identity", "identities")
    return _build(SiloConfig, values, where, required)
