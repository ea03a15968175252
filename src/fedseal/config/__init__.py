"""The server's and the silos' TOML configs: their schema, dataclasses and loaders.

``fedseal provision`` (:mod:`fedseal.deploy.provision`) writes ``server/server.toml`` and one
``silos/<name>/silo.toml`` per silo; ``fedseal server --config`` and ``fedseal client
--config`` read them with :func:`load_server_config` and :func:`load_silo_config`. Paths in a
file are relative to that file's directory, so a party's folder can be copied to its machine as
a whole. Mistakes fail loudly and early: an unknown key (a typo) is refused rather than
ignored, and every :class:`~fedseal.errors.ConfigError` names the file and the key.

Each option is declared once, as an entry of its file's schema table
(:class:`~fedseal.config.schema.Option`): key, TOML type, default, check and comment.

=====================================  ===========================================================
:mod:`fedseal.config.schema`           the entry type (:class:`~fedseal.config.schema.Option`)
                                       and the table (:class:`~fedseal.config.schema.Table`)
:mod:`fedseal.config.server`           ``server.toml``: :class:`ServerConfig`
:mod:`fedseal.config.server_schema`    ``server.toml``'s table, ``SERVER``
:mod:`fedseal.config.silo`             ``silo.toml``: ``SILO`` and :class:`SiloConfig`
:mod:`fedseal.config.common`           the options both files carry (the round policy, ...)
:mod:`fedseal.config.tls`              ``[tls]``: :class:`TlsFiles`
:mod:`fedseal.config.dp`               ``[dp]`` of ``silo.toml``: :class:`DPSettings`
:mod:`fedseal.config.strategy`         ``[strategy]`` of ``server.toml``: :class:`StrategySettings`
:mod:`fedseal.config.checks`           the checks the options use
:mod:`fedseal.config.loading`          the loaders
=====================================  ===========================================================

Standard library only at import time.

Examples
--------
>>> from fedseal.config import load_silo_config
>>> from fedseal.deploy.keyfile import load_identity_key
>>> config = load_silo_config("silos/a/silo.toml")            # doctest: +SKIP
>>> ca_pem, cert_pem, key_pem = config.tls.read()             # doctest: +SKIP
>>> identity = load_identity_key(config.identity_key)         # doctest: +SKIP
"""

from __future__ import annotations

from fedseal.config.dp import DPSettings
from fedseal.config.loading import load_server_config, load_silo_config
from fedseal.config.server import ServerConfig
from fedseal.config.silo import SiloConfig
from fedseal.config.strategy import StrategySettings
from fedseal.config.tls import TlsFiles

__all__ = [
    "DPSettings",
    "ServerConfig",
    "SiloConfig",
    "StrategySettings",
    "TlsFiles",
    "load_server_config",
    "load_silo_config",
]
