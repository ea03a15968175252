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

from fedseal.config import (
    DPSettings,
    ServerConfig,
    SiloConfig,
    TlsFiles,
    load_server_config,
    load_silo_config,
)
from fedseal.deploy.files import dumps_toml
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.provision import ProvisionResult, provision
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
    assert (config.rounds, config.min_participants, config.aggregation) == (10, 2, "masking")
    assert (config.corruption, config.dropout, config.full_graph_max) == (0.05, 0.1, 100)
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
    assert (config.dropout, config.min_participants, config.full_graph_max) == (0.1, 2, 100)
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
    doc = {"deployment_id": "d", "silo": "a", "server_identity": KEY_B}
    doc["identities"] = {"a": KEY_A, "b": KEY_B}
    silo = load_silo_config(write(tmp_path / "silo.toml", doc))
    assert silo.tls.key == tmp_path.resolve() / "silo.key" and silo.dp.enabled
    assert silo.server_address == "127.0.0.1:50051"


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    doc = {"deployment_id": "d", "silo": "a", "server_identity": KEY_B}
    doc |= {"identities": {"a": KEY_A, "b": KEY_B}}
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
        ({"min_participants": 3}, r"min_participants \(3\) exceeds the 2 silos in silos"),
        ({"min_participants": 1}, "min_participants must be >= 2"),
        ({"min_participants": 2.0}, "min_participants must be an integer"),
        ({"min_silos": 2}, "min_silos was renamed min_participants"),
        ({"corruption": 0.5}, r"corruption must be in \[0, 0.5\)"),
        ({"corruption": -0.1}, "corruption must be a finite number >= 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"dropout": "0.1"}, "dropout must be a number"),
        ({"full_graph_max": -1}, "full_graph_max must be >= 0"),
        ({"revoked": ["mallory"]}, "revoked names 'mallory'"),
        ({"revoked": ["alpha"]}, r"min_participants \(2\) exceeds the 1 silos allowed"),
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
        ({"dropout": -0.5}, "dropout must be a finite number >= 0"),
        ({"dropout": 1}, r"dropout must be in \[0, 1\)"),
        ({"min_participants": 3}, r"min_participants \(3\) exceeds the 2 silos in identities"),
        ({"min_participants": 1}, "min_participants must be >= 2"),
        ({"full_graph_max": -5}, "full_graph_max must be >= 0"),
        ({"full_graph_max": 1.5}, "full_graph_max must be an integer"),
        ({"identities": {"alpha": KEY_A}}, r"identities has 1 silo\(s\); a deployment needs at le"),
        ({"reconnect_max_s": 0}, "reconnect_max_s must be"),
        ({"fedavg_weight": 0}, "fedavg_weight must be >= 1"),
        ({"fedavg_weight": 2.5}, "fedavg_weight must be an integer"),
        ({"dp": {"enabeld": False}}, r"\[dp\]: unknown key 'enabeld' \(did you mean 'enabled'\?\)"),
        ({"dp": {"enabled": "yes"}}, r"\[dp\]: enabled must be true or false"),
        ({"dp": {"delta": 2.0}}, r"\[dp\]: delta must satisfy 0 < delta < 1"),
        ({"dp": {"accountant": "gdp"}}, r"\[dp\]: accountant must be one of"),
        ({"dp": {"target_epsilon": 3.0}}, r"\[dp\]: give exactly one of"),
        ({"dp": {"planned_rounds": 3}}, r"\[dp\]: planned_rounds is only used with target_eps"),
        ({"dp": {"epsilon_budget": -1}}, r"\[dp\]: epsilon_budget must be"),
        ({"dp": {"allow_budget_increase": 1}}, r"\[dp\]: allow_budget_increase must be"),
        ({"dp": {"neighbouring_relation": "swap"}}, r"\[dp\]: neighbouring_relation must be one"),
        (
            {"dp": {"neighbouring_relation": "replace_one", "accountant": "prv"}},
            r"\[dp\]: neighbouring_relation 'replace_one' is accounted with R",
        ),
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
    assert DPSettings().to_dp_config() == DPConfig(epsilon_budget=8.0, noise_multiplier=1.0)
    raise_ok = DPSettings(epsilon_budget=9.0, allow_budget_increase=True).to_dp_config()
    assert raise_ok is not None and raise_ok.allow_budget_increase
    with pytest.raises(ConfigError, match="allow_budget_increase must be a bool"):
        DPSettings(allow_budget_increase="yes")  # type: ignore[arg-type]
    replace = DPSettings(neighbouring_relation="replace_one").to_dp_config()
    assert replace is not None and replace.neighbouring_relation == "replace_one"
    assert DPSettings().to_dp_config().neighbouring_relation == "add_remove"  # type: ignore[union-attr]


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
    silo |= {"silo": "a", "server_address": "[::1]:50051", "identities": {"a": KEY_A, "b": KEY_B}}
    assert SiloConfig(**silo, server_identity=KEY_B).dp == DPSettings()


# -- the round policy --------------------------------------------------------------------------


def roster_keys(n: int) -> dict[str, str]:
    return {f"s{i:02d}": f"{i + 1:064x}" for i in range(n)}


@pytest.mark.parametrize(
    ("n", "corruption", "expected"),
    [(2, 0.05, 2), (3, 0.05, 3), (4, 0.05, 3), (5, 0.05, 3), (10, 0.05, 5), (10, 0.45, 6),
     (40, 0.3, 20), (40, 0.49, 21), (101, 0.0, 51)],
)  # fmt: skip
def test_min_participants_defaults_from_the_roster(
    tmp_path: Path, n: int, corruption: float, expected: int
) -> None:
    """Left out, min_participants is default_min_participants(N, corruption) in both files."""
    from fedseal.protocol.policy import default_min_participants

    assert default_min_participants(n, corruption) == expected
    keys = roster_keys(n)
    server = {"deployment_id": "d", "silos": list(keys), "identities": keys}
    server |= {"corruption": corruption, "modulus_bits": 64}
    assert load_server_config(write(tmp_path / "server.toml", server)).min_participants == expected
    silo = {"deployment_id": "d", "silo": "s00", "server_identity": KEY_A, "identities": keys}
    silo |= {"corruption": corruption}
    loaded = load_silo_config(write(tmp_path / "silo.toml", silo))
    assert loaded.min_participants == expected
    assert (loaded.dropout, loaded.full_graph_max) == (0.1, 100)


def test_round_policy_values_are_kept_and_normalised(tmp_path: Path) -> None:
    keys = roster_keys(5)
    doc = {"deployment_id": "d", "silo": "s01", "server_identity": KEY_A, "identities": keys}
    doc |= {"corruption": 0, "dropout": 0, "min_participants": 5, "full_graph_max": 0}
    silo = load_silo_config(write(tmp_path / "silo.toml", doc))
    assert (silo.corruption, silo.dropout, silo.min_participants, silo.full_graph_max) == (
        0.0,
        0.0,
        5,
        0,
    )
    assert isinstance(silo.corruption, float) and isinstance(silo.dropout, float)
    server = {"deployment_id": "d", "silos": list(keys), "identities": keys}
    # min_participants (the default 3 of 5) is checked against the silos allowed to connect
    revoked = server | {"revoked": ["s00", "s01", "s02"]}
    with pytest.raises(ConfigError, match=r"min_participants \(3\) exceeds the 2 silos allowed"):
        load_server_config(write(tmp_path / "s.toml", revoked))
    server |= {"min_participants": 2, "dropout": 0.25, "full_graph_max": 3}
    config = load_server_config(write(tmp_path / "server.toml", server))
    assert (config.min_participants, config.dropout, config.full_graph_max) == (2, 0.25, 3)


def test_direct_construction_checks_the_round_policy(tmp_path: Path) -> None:
    tls = TlsFiles(ca_cert=tmp_path / "ca", cert=tmp_path / "c", key=tmp_path / "k")
    keys = roster_keys(4)
    base: dict[str, Any] = {
        "deployment_id": "d", "tls": tls, "identity_key": tmp_path / "id", "identities": keys,
        "state_dir": tmp_path, "audit_log": tmp_path / "log",
    }  # fmt: skip
    server = base | {"listen": "127.0.0.1:0", "silos": tuple(keys)}
    assert ServerConfig(**server).min_participants == 3
    silo = base | {"silo": "s00", "server_address": "h:1", "server_identity": KEY_A}
    assert SiloConfig(**silo).min_participants == 3
    for bad, match in [
        ({"min_participants": 5}, r"min_participants \(5\) exceeds the 4 silos"),
        ({"min_participants": True}, "min_participants must be an integer"),
        ({"dropout": math.nan}, "dropout must be a finite number"),
        ({"corruption": 0.7}, r"corruption must be in \[0, 0.5\)"),
        ({"full_graph_max": -1}, "full_graph_max must be >= 0"),
    ]:
        with pytest.raises(ConfigError, match=match):
            ServerConfig(**server | bad)
        with pytest.raises(ConfigError, match=match):
            SiloConfig(**silo | bad)


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
