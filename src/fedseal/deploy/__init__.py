"""Deployment tooling: ``fedseal provision`` and the server's and silos' TOML configs.

``fedseal provision`` (:func:`provision`) creates a deployment folder: a deployment CA, the
server's and each silo's mutual-TLS certificate (RFC 5280) and Ed25519 identity key
(RFC 8032), and their configs. ``fedseal server`` and ``fedseal client`` read those configs
with :func:`load_server_config` and :func:`load_silo_config`.

``provision`` is imported from :mod:`fedseal.deploy.config` (or
:mod:`fedseal.deploy.provision`): ``fedseal.deploy.provision`` itself is that module.

Examples
--------
>>> from fedseal.deploy.config import provision, load_silo_config, load_identity_key
>>> result = provision(deployment="demo", silos=["a", "b", "c"], out=folder)  # doctest: +SKIP
>>> config = load_silo_config(result.silo_configs["a"])                       # doctest: +SKIP
>>> ca_pem, cert_pem, key_pem = config.tls.read()                             # doctest: +SKIP
>>> identity = load_identity_key(config.identity_key)                         # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.deploy.config import (
        DPSettings,
        ServerConfig,
        SiloConfig,
        TlsFiles,
        load_server_config,
        load_silo_config,
    )
    from fedseal.deploy.keyfile import load_identity_key
    from fedseal.deploy.provision import ProvisionResult

# Public name -> defining module, imported on first use (PEP 562) so that
# ``import fedseal.deploy.cli`` stays standard-library only for ``fedseal --help``.
_EXPORTS = {
    "DPSettings": "fedseal.deploy.config",
    "ProvisionResult": "fedseal.deploy.provision",
    "ServerConfig": "fedseal.deploy.config",
    "SiloConfig": "fedseal.deploy.config",
    "TlsFiles": "fedseal.deploy.config",
    "load_identity_key": "fedseal.deploy.keyfile",
    "load_server_config": "fedseal.deploy.config",
    "load_silo_config": "fedseal.deploy.config",
}

__all__ = [
    "DPSettings",
    "ProvisionResult",
    "ServerConfig",
    "SiloConfig",
    "TlsFiles",
    "load_identity_key",
    "load_server_config",
    "load_silo_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fedseal.deploy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
