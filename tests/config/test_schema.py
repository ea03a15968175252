"""The config schema: one table entry per option, and what is derived from it.

The loaders, the dataclass defaults and ``fedseal provision``'s documents all come from the
tables in :mod:`fedseal.config`; these tests pin that they agree, that the options the issue
named reach the server, and that the wrap-around bound is computed in one place.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fedseal.config import (
    DPSettings,
    ServerConfig,
    SiloConfig,
    StrategySettings,
    TlsFiles,
    load_server_config,
)
from fedseal.config.dp import DP
from fedseal.config.schema import REQUIRED, Table
from fedseal.config.server import SERVER
from fedseal.config.silo import SILO
from fedseal.config.strategy import STRATEGY
from fedseal.config.tls import SERVER_TLS, SILO_TLS
from fedseal.deploy.files import dumps_toml
from fedseal.deploy.layout import fit_modulus, server_document
from fedseal.errors import ConfigError
from fedseal.secagg.graph import FULL_GRAPH_MAX
from fedseal.secagg.quantize import QuantizationSpec, fits_modulus, largest_sum
from fedseal.server.app import driver_config
from fedseal.server.driver_config import DriverConfig

KEYS = {"a": "ab" * 32, "b": "cd" * 32, "c": "ef" * 32}

PAIRS = [
    (SERVER, ServerConfig),
    (SILO, SiloConfig),
    (DP, DPSettings),
    (STRATEGY, StrategySettings),
    (SERVER_TLS, TlsFiles),
    (SILO_TLS, TlsFiles),
]


@pytest.mark.parametrize(("table", "cls"), PAIRS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_option_is_a_field_and_every_field_an_option(table: Table, cls: type) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(table.keys()) == set(fields)
    for key, f in fields.items():
        if f.default is not dataclasses.MISSING:  # the dataclass default is the table's
            assert f.default == table.default(key), key
        elif f.default_factory is not dataclasses.MISSING:  # a table option: its own defaults
            assert table[key].build is f.default_factory, key


def test_table_options_are_built_from_their_own_table() -> None:
    assert SERVER["tls"].table is SERVER_TLS and SILO["tls"].table is SILO_TLS
    assert SERVER["strategy"].table is STRATEGY and SILO["dp"].table is DP
    assert SERVER.required() == ("deployment_id", "silos", "identities")
    assert SILO.required() == ("deployment_id", "silo", "server_identity", "identities")
    assert SERVER["identity_key"].path and not SERVER["rounds"].path
    assert REQUIRED not in SERVER.fill_ins().values()


def test_the_full_graph_default_is_the_graph_modules() -> None:
    # fedseal.config does not import fedseal.secagg (numpy); the defaults must still agree.
    assert SERVER.default("full_graph_max") == SILO.default("full_graph_max") == FULL_GRAPH_MAX
    spec = QuantizationSpec(clip=1.0, max_silos=2)
    assert DriverConfig(
        deployment_id="d", rounds=1, min_silos=2, aggregation="none", quantization=spec,
        train_timeout_s=1.0, stage_timeout_s=1.0, connect_timeout_s=1.0,
    ).full_graph_max == FULL_GRAPH_MAX  # fmt: skip


def test_importing_the_config_stays_light() -> None:
    code = "import sys, fedseal.config; print([m for m in ('numpy', 'grpc') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- options the server reads from server.toml ------------------------------------------------


def _server_toml(tmp_path: Path, **changes: Any) -> Path:
    doc = {"deployment_id": "d", "silos": list(KEYS), "identities": KEYS} | changes
    path = tmp_path / "server.toml"
    path.write_text(dumps_toml(doc))
    return path


def test_driver_settings_come_from_server_toml(tmp_path: Path) -> None:
    changes = {"checkpoint_timeout_s": 2.5, "metric_clip": 10, "full_graph_max": 2}
    settings = driver_config(load_server_config(_server_toml(tmp_path, **changes)))
    assert settings.checkpoint_timeout_s == 2.5 and settings.full_graph_max == 2
    assert settings.quantization.metric_clip == 10.0
    defaults = driver_config(load_server_config(_server_toml(tmp_path)))
    assert (defaults.checkpoint_timeout_s, defaults.quantization.metric_clip) == (10.0, 100.0)
    assert defaults.full_graph_max == FULL_GRAPH_MAX


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"checkpoint_timeout_s": 0}, "checkpoint_timeout_s must be a finite number > 0"),
        ({"checkpoint_timeout_s": "10"}, "checkpoint_timeout_s must be a number"),
        ({"metric_clip": -1.0}, "metric_clip must be a finite number > 0"),
        ({"metric_clipp": 1.0}, r"unknown key 'metric_clipp' \(did you mean 'metric_clip'\?\)"),
    ],
)
def test_new_server_options_are_checked(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    path = _server_toml(tmp_path, **change)
    with pytest.raises(ConfigError, match=match) as info:
        load_server_config(path)
    assert str(path) in str(info.value)


def test_provisioning_writes_only_the_options_it_always_wrote() -> None:
    doc = server_document("d", "127.0.0.1:50051", KEYS)
    assert "checkpoint_timeout_s" not in doc and "metric_clip" not in doc
    assert list(doc) == [o.key for o in SERVER.options if o.key in doc]  # in table order


# -- the wrap-around bound ----------------------------------------------------------------------


def test_one_bound_for_the_spec_the_config_and_provisioning(tmp_path: Path) -> None:
    assert largest_sum(max_silos=3, max_weight=1000, bits=16) == 3 * 1000 * 65535
    n = (1 << 32) // (1000 * 65535)  # the most silos a 32-bit modulus holds at the defaults
    assert fits_modulus(max_silos=n, max_weight=1000, bits=16, modulus_bits=32)
    assert not fits_modulus(max_silos=n + 1, max_weight=1000, bits=16, modulus_bits=32)
    for silos, fits in ((n, True), (n + 1, False)):
        keys = {f"s{i:03d}": f"{i + 1:064x}" for i in range(silos)}
        doc = {"deployment_id": "d", "silos": list(keys), "identities": keys}
        spec = {"clip": 1.0, "max_silos": silos}
        if fits:
            QuantizationSpec(**spec)
            assert load_server_config(_server_toml(tmp_path, **doc)).modulus_bits == 32
            assert fit_modulus(dict(doc)) == ()
        else:
            with pytest.raises(ConfigError, match="could wrap around"):
                QuantizationSpec(**spec)
            with pytest.raises(ConfigError, match="could wrap around"):
                load_server_config(_server_toml(tmp_path, **doc))
            fitted = dict(doc)
            assert fit_modulus(fitted) and fitted["modulus_bits"] == 64
