"""The TOML configs: loaders, defaults, path resolution, refusal of typos and bad values."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedseal.deploy.config import (
    DPSettings,
    ProvisionResult,
    ServerConfig,
    SiloConfig,
    TlsFiles,
    load_identity_key,
    load_server_config,
    load_silo_config,
    provision,
)
from fedseal.deploy.files import dumps_toml
from fedseal.dp.config import DPConfig
from fedseal.errors import ConfigError

KEY_A, KEY_B = "ab" * 32, "cd" * 32


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> ProvisionResult:
    root = tmp_path_factory.mktemp("cfg") / "deployment"
    return provision(deployment="demo", silos=["alpha", "beta"], out=root)


def raw(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(dumps_toml(doc))
    return path


# -- what provisioning writes loads back -------------------------------------------------------


def test_server_config_values_and_paths(dep: ProvisionResult) -> None:
    config = load_server_config(dep.server_config)
    server = dep.directory.resolve() / "server"
    assert config.deployment_id == "demo" and config.listen == "127.0.0.1:50051"
    assert config.tls == TlsFiles(
        ca_cert=server / "ca.crt", cert=server / "server.crt", key=server / "server.key"
    )
    assert config.identity_key == server / "identity.key"
    assert (config.state_dir, config.audit_log) == (server / "state", server / "audit.jsonl")
    assert config.silos == ("alpha", "beta") and config.revoked == ()
    assert config.admitted == frozenset({"alpha", "beta"})
    assert (config.rounds, config.min_silos, config.aggregation) == (10, 2, "masking")
    assert (config.bits, config.modulus_bits, config.max_weight, config.clip) == (16, 32, 1000, 1.0)
    ca, _, key = config.tls.read()
    assert ca.startswith(b"-----BEGIN CERTIFICATE") and key.startswith(b"-----BEGIN PRIVATE")


def test_silo_config_values_and_paths(dep: ProvisionResult) -> None:
    config = load_silo_config(dep.silo_configs["beta"])
    here = dep.directory.resolve() / "silos" / "beta"
    assert (config.silo, config.server_address, config.server_name) == (
        "beta",
        "127.0.0.1:50051",
        "localhost",
    )
    assert config.tls.key == here / "silo.key" and config.identity_key == here / "identity.key"
    assert (config.state_dir, config.audit_log) == (here / "state", here / "audit.jsonl")
    assert config.dp == DPSettings() and config.corruption == 0.05
    assert config.dp.to_dp_config() == DPConfig(epsilon_budget=8.0, noise_multiplier=1.0)
    assert len(config.tls.read()) == 3


def test_configs_are_frozen(dep: ProvisionResult) -> None:
    config = load_silo_config(dep.silo_configs["alpha"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.silo = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.identities["mallory"] = KEY_A  # type: ignore[index]


def test_minimal_files_get_demo_defaults(tmp_path: Path) -> None:
    server = write(
        tmp_path / "server.toml",
        {"deployment_id": "d", "silos": ["a", "b"], "identities": {"a": KEY_A, "b": KEY_B}},
    )
    config = load_server_config(server)
    assert config.listen == "127.0.0.1:50051" and config.rounds == 10
    assert config.tls.cert == tmp_path.resolve() / "server.crt"
    doc = {"deployment_id": "d", "silo": "a", "server_identity": KEY_B, "identities": {"a": KEY_A}}
    silo = load_silo_config(write(tmp_path / "silo.toml", doc))
    assert silo.tls.key == tmp_path.resolve() / "silo.key" and silo.dp.enabled
    assert silo.server_address == "127.0.0.1:50051"


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    doc = {"deployment_id": "d", "silo": "a", "server_identity": KEY_B, "identities": {"a": KEY_A}}
    doc |= {"state_dir": "/var/lib/fedseal", "audit_log": "~/audit.jsonl"}
    silo = load_silo_config(write(tmp_path / "silo.toml", doc))
    assert silo.state_dir == Path("/var/lib/fedseal")
    assert silo.audit_log == Path("~/audit.jsonl").expanduser()


# -- typos and bad values name the key and the file --------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"roundz": 5}, r"unknown key 'roundz' \(did you mean 'rounds'\?\)"),
        ({"tls": {"cert": "x.crt", "kye": "x.key"}}, r"\[tls\]: unknown key 'kye'"),
        ({"rounds": "10"}, "rounds must be an integer"),
        ({"rounds": 0}, "rounds must be >= 1"),
        ({"bits": 33}, r"bits must be in \[1, 32\]"),
        ({"bits": True}, "bits must be an integer"),
        ({"modulus_bits": 48}, "modulus_bits must be 32 or 64"),
        ({"aggregation": "he"}, "aggregation must be 'masking', 'paillier' or 'none'"),
        ({"aggregation": "paillier"}, "aggregation = 'paillier' needs paillier_public_key"),
        ({"stage_timeout_s": 0}, "stage_timeout_s must be a finite number > 0"),
        ({"train_timeout_s": -1.5}, "train_timeout_s must be"),
        ({"connect_timeout_s": math.inf}, "connect_timeout_s must be"),
        ({"listen": "localhost"}, "listen must be 'host:port'"),
        ({"listen": "127.0.0.1:99999"}, "listen port"),
        ({"listen": "::1:5000"}, "IPv6 address in brackets"),
        ({"listen": "bad host:5000"}, "listen host"),
        ({"deployment_id": ""}, "deployment_id must be a non-empty string"),
        ({"min_silos": 3}, r"min_silos \(3\) exceeds the 2 silos"),
        ({"min_silos": 1}, "min_silos must be >= 2"),
        ({"revoked": ["mallory"]}, "revoked names 'mallory'"),
        ({"revoked": ["alpha"]}, r"min_silos \(2\) exceeds the 1 silos"),
        ({"silos": ["alpha", "beta", "alpha"]}, "silos lists 'alpha' twice"),
        ({"silos": ["alpha", "Beta"]}, "silos entry 'Beta' is not valid"),
        ({"silos": ["alpha", "beta", "gamma"]}, "no public key for silo 'gamma'"),
        ({"identities": {"alpha": "00" * 31, "beta": KEY_B}}, "identities.alpha must be 64 hex"),
        ({"chunk_bytes": 64 << 20}, "chunk_bytes .* must leave 1 KiB"),
        ({"max_message_bytes": 1 << 31}, r"max_message_bytes must be in \[1024"),
        ({"bits": 32}, "could wrap around.*modulus_bits = 64"),
        ({"clip": "1"}, "clip must be a number"),
        ({"state_dir": ""}, "state_dir must be a path"),
    ],
)
def test_bad_server_values_are_named(
    dep: ProvisionResult, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    path = write(tmp_path / "server.toml", raw(dep.server_config) | change)
    with pytest.raises(ConfigError, match=match) as info:
        load_server_config(path)
    assert str(path) in str(info.value)


def test_wrapping_check_passes_with_a_64_bit_modulus(dep: ProvisionResult, tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", raw(dep.server_config) | {"bits": 32, "modulus_bits": 64})
    assert load_server_config(path).modulus_bits == 64


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"silo": "gamma"}, r"no public key for this silo \('gamma'\)"),
        ({"silo": "server"}, "reserved"),
        ({"server_identity": "xyz"}, "server_identity must be 64 hex digits"),
        ({"server_address": "h:0"}, r"server_address port must be an integer in \[1, 65535\]"),
        ({"server_name": ""}, "server_name must be a non-empty string"),
        ({"corruption": 0.5}, r"corruption must be in \[0, 0.5\)"),
        ({"corruption": -0.1}, "corruption must be a finite number >= 0"),
        ({"reconnect_max_s": 0}, "reconnect_max_s must be"),
        ({"dp": {"enabeld": False}}, r"\[dp\]: unknown key 'enabeld' \(did you mean 'enabled'\?\)"),
        ({"dp": {"enabled": "yes"}}, r"\[dp\]: enabled must be true or false"),
        ({"dp": {"delta": 2.0}}, r"\[dp\]: delta must satisfy 0 < delta < 1"),
        ({"dp": {"accountant": "gdp"}}, r"\[dp\]: accountant must be one of"),
        ({"dp": {"target_epsilon": 3.0}}, r"\[dp\]: give exactly one of"),
        ({"dp": {"planned_rounds": 3}}, r"\[dp\]: planned_rounds is only used with target_eps"),
        ({"dp": {"epsilon_budget": -1}}, r"\[dp\]: epsilon_budget must be"),
        ({"tls": "silo.crt"}, "tls must be a table"),
        ({"identities": {"alpha": KEY_A, "beta": KEY_A}}, "the same public key"),
    ],
)
def test_bad_silo_values_are_named(
    dep: ProvisionResult, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    doc = raw(dep.silo_configs["alpha"])
    for key, value in change.items():  # tables are merged, other values replaced
        doc[key] = doc[key] | value if isinstance(value, dict) and key == "dp" else value
    path = write(tmp_path / "silo.toml", doc)
    with pytest.raises(ConfigError, match=match) as info:
        load_silo_config(path)
    assert str(path) in str(info.value)


def test_missing_required_key_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing key 'silos'"):
        load_server_config(write(tmp_path / "a.toml", {"deployment_id": "d"}))
    (tmp_path / "b.toml").write_text("rounds = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_server_config(tmp_path / "b.toml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_silo_config(tmp_path / "missing.toml")


# -- DP settings -----------------------------------------------------------------------------


def test_dp_settings() -> None:
    assert DPSettings().noise_multiplier == 1.0
    assert DPSettings(enabled=False).to_dp_config() is None
    target = DPSettings(target_epsilon=3.0, planned_rounds=20, accountant="prv", delta=1e-6)
    assert target.noise_multiplier is None
    assert target.to_dp_config() == DPConfig(
        epsilon_budget=8.0, target_epsilon=3.0, planned_rounds=20, accountant="prv", delta=1e-6
    )
    with pytest.raises(ConfigError, match="max_grad_norm"):
        DPSettings(max_grad_norm=0)


def test_direct_construction_is_validated_too(tmp_path: Path) -> None:
    tls = TlsFiles(ca_cert=tmp_path / "ca", cert=tmp_path / "c", key=tmp_path / "k")
    base: dict[str, Any] = {
        "deployment_id": "d",
        "listen": "[::]:0",
        "tls": tls,
        "identity_key": tmp_path / "id",
        "silos": ("b", "a"),
        "identities": {"a": KEY_A, "b": KEY_B.upper()},
        "state_dir": tmp_path,
        "audit_log": tmp_path / "log",
    }
    config = ServerConfig(**base)
    assert config.silos == ("a", "b") and config.identities["b"] == KEY_B
    with pytest.raises(ConfigError, match="silos must be a list"):
        ServerConfig(**base | {"silos": "ab"})
    with pytest.raises(ConfigError, match="identities names 'c'"):
        ServerConfig(**base | {"identities": {"a": KEY_A, "b": KEY_B, "c": "ef" * 32}})
    silo = {k: base[k] for k in ("deployment_id", "tls", "identity_key", "state_dir", "audit_log")}
    silo |= {"silo": "a", "server_address": "[::1]:50051", "identities": {"a": KEY_A}}
    assert SiloConfig(**silo, server_identity=KEY_B).dp == DPSettings()


# -- TLS files and identity keys ---------------------------------------------------------------


def test_tls_read_catches_mixups(dep: ProvisionResult, tmp_path: Path) -> None:
    server = load_server_config(dep.server_config).tls
    silo = load_silo_config(dep.silo_configs["alpha"]).tls
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        TlsFiles(ca_cert=silo.ca_cert, cert=silo.cert, key=server.key).read()
    with pytest.raises(ConfigError, match="cannot read TLS certificate"):
        TlsFiles(ca_cert=silo.ca_cert, cert=tmp_path / "none.crt", key=silo.key).read()
    other = provision(deployment="other", silos=["x", "y"], out=tmp_path / "other")
    other_ca = other.directory / "ca" / "ca.crt"
    with pytest.raises(ConfigError, match="was not issued by the CA"):
        TlsFiles(ca_cert=other_ca, cert=silo.cert, key=silo.key).read()
    (tmp_path / "garbage.crt").write_text("not a certificate")
    with pytest.raises(ConfigError, match="is not a PEM certificate"):
        TlsFiles(ca_cert=tmp_path / "garbage.crt", cert=silo.cert, key=silo.key).read()


def test_identity_key_file_checks(dep: ProvisionResult, tmp_path: Path) -> None:
    source = dep.directory / "silos" / "alpha" / "identity.key"
    key = load_identity_key(source)
    assert repr(key) == "IdentityKey(<redacted>)"

    def copy(name: str, data: bytes, mode: int) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        os.chmod(path, mode)
        return path

    world = copy("world.key", source.read_bytes(), 0o644)
    with pytest.raises(ConfigError, match="accessible to every user"):
        load_identity_key(world)
    group = copy("group.key", source.read_bytes(), 0o640)
    with pytest.warns(UserWarning, match="accessible to its group"):
        assert load_identity_key(group) == key
    bad = copy("bad.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600)
    with pytest.raises(ConfigError, match="is not a PEM") as info:
        load_identity_key(bad)
    assert "AAAA" not in str(info.value)
    tls_key = dep.directory / "silos" / "alpha" / "silo.key"
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_identity_key(tls_key)
    with pytest.raises(ConfigError, match="identity key"):
        load_identity_key(tmp_path / "missing.key")


# -- the TOML writer -------------------------------------------------------------------------

_scalars = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
)
_keys = st.text(min_size=1, max_size=12)
_values = _scalars | st.lists(st.text(max_size=10), max_size=4)
_tables = st.dictionaries(_keys, _values, max_size=5)


@given(st.dictionaries(_keys, _values | _tables | st.dictionaries(_keys, _tables), max_size=6))
def test_toml_writer_round_trips(doc: dict[str, Any]) -> None:
    assert tomllib.loads(dumps_toml(doc, header="a\nheader")) == doc


def test_toml_writer_refuses_what_toml_cannot_say() -> None:
    for value in (None, b"bytes", [{"a": 1}]):
        with pytest.raises(TypeError):
            dumps_toml({"x": value})
