"""``fedseal provision --paillier``: the dealt key's files, modes, configs, re-runs and refusals.

Keys are 512-bit (``paillier_allow_insecure_bits``) to keep the tests fast; the CLI refuses
anything below 2048 bits.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fedseal.audit import verify_log
from fedseal.config import SiloConfig, load_server_config, load_silo_config
from fedseal.deploy.cli import register
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.paillier_keys import (
    PUBLIC_FILE,
    SHARE_FILE,
    load_deployment_key,
    load_key_share,
)
from fedseal.deploy.provision import ProvisionResult, provision
from fedseal.deploy.provision.plan import Deal
from fedseal.errors import ConfigError
from fedseal.secagg.graph import full_parameters
from fedseal.secagg.paillier import MIN_SECURE_KEY_BITS

SILOS = ("alpha", "beta", "gamma", "delta")


def make(root: Path, silos: tuple[str, ...] = SILOS, **kwargs: Any) -> ProvisionResult:
    options: dict[str, Any] = {"paillier_bits": 512, "paillier_allow_insecure_bits": True}
    return provision(deployment="demo", silos=silos, out=root, **(options | kwargs))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> ProvisionResult:
    return make(tmp_path_factory.mktemp("he") / "deployment", paillier=True)


def test_files_modes_and_configs(dep: ProvisionResult) -> None:
    root = dep.directory
    assert mode(root / "server" / PUBLIC_FILE) == 0o644
    assert not (root / "server" / SHARE_FILE).exists()  # the server never holds a share
    server = load_server_config(dep.server_config)
    assert server.aggregation == "paillier"
    assert server.paillier_public_key == (root / "server" / PUBLIC_FILE).resolve()
    key = load_deployment_key(server.paillier_public_key, deployment_id="demo", silos=server.silos)
    assert key.parties == tuple(sorted(SILOS))
    assert key.public_key.threshold == full_parameters(len(SILOS)).threshold == 3
    assert key.public_key.key_bits == 512
    assert dep.paillier_key_id == key.public_key.key_id.hex()
    assert dep.paillier_key_id[:16] in dep.summary()
    for name in SILOS:
        folder = root / "silos" / name
        assert mode(folder / SHARE_FILE) == 0o600 and mode(folder / PUBLIC_FILE) == 0o644
        assert (folder / PUBLIC_FILE).read_bytes() == (root / "server" / PUBLIC_FILE).read_bytes()
        silo = load_silo_config(folder / "silo.toml")
        assert silo.paillier and silo.paillier_key_share == (folder / SHARE_FILE).resolve()
        assert silo.paillier_public_key is not None
        share = load_key_share(silo.paillier_key_share, key, name)
        assert share.index == key.index_of(name) and share.key_id == key.public_key.key_id
        assert "redacted" in repr(share)


def test_the_public_file_holds_nothing_secret(dep: ProvisionResult) -> None:
    text = (dep.directory / "server" / PUBLIC_FILE).read_text()
    doc = json.loads(text)
    assert set(doc) == {"format", "deployment_id", "parties", "key"}
    assert set(doc["key"]) == {
        "scheme", "n", "threshold", "verification_base", "verification_keys", "key_id",
    }  # fmt: skip
    for name in SILOS:
        share_body = (dep.directory / "silos" / name / SHARE_FILE).read_text().splitlines()[1]
        assert share_body not in text


def test_dealing_is_audited_without_key_material(dep: ProvisionResult) -> None:
    server_key = load_identity_key(dep.directory / "server/identity.key")
    assert verify_log(dep.audit_log, key=server_key.public_key).ok
    entries = [json.loads(line) for line in dep.audit_log.read_text().splitlines()]
    (dealt,) = [e for e in entries if e["details"].get("action") == "paillier_key_dealt"]
    assert dealt["details"]["key_id"] == dep.paillier_key_id
    assert dealt["details"]["threshold"] == 3 and dealt["details"]["key_bits"] == 512
    assert dealt["details"]["parties"] == sorted(SILOS)
    text = dep.audit_log.read_text()
    for name in SILOS:
        body = (dep.directory / "silos" / name / SHARE_FILE).read_text().splitlines()[1]
        assert body[:20] not in text


def test_adding_silos_to_a_paillier_deployment_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root, paillier=True)
    before = snapshot(root)
    with pytest.raises(ConfigError, match="--redeal-paillier"):
        make(root, ("epsilon",))
    assert snapshot(root) == before
    again = make(root, SILOS, paillier=True)  # the same silos: nothing to do, no new key
    assert again.paillier_key_id is None and snapshot(root) == before


def test_redeal_adds_silos_with_a_new_key_and_never_overwrites(tmp_path: Path) -> None:
    root = tmp_path / "d"
    first = make(root, paillier=True)
    before = snapshot(root)
    second = make(root, ("epsilon",), redeal_paillier=True)
    assert second.added == ("epsilon",) and second.paillier_key_id not in (
        None,
        first.paillier_key_id,
    )
    after = snapshot(root)
    for name, data in before.items():
        if name.endswith((".key", ".json")):
            assert after[name] == data, name  # the old key files are left as they were
    server = load_server_config(root / "server/server.toml")
    assert server.paillier_public_key is not None
    key = load_deployment_key(server.paillier_public_key, deployment_id="demo", silos=server.silos)
    assert key.public_key.key_id.hex() == second.paillier_key_id
    assert key.parties == tuple(sorted((*SILOS, "epsilon")))
    assert key.public_key.threshold == full_parameters(5).threshold == 4
    for name in key.parties:
        silo = load_silo_config(root / "silos" / name / "silo.toml")
        assert silo.paillier_key_share is not None
        assert silo.paillier_key_share.name != SHARE_FILE  # versioned name
        assert load_key_share(silo.paillier_key_share, key, name).index == key.index_of(name)


def test_paillier_on_an_existing_masking_deployment(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    assert load_server_config(root / "server/server.toml").aggregation == "masking"
    result = make(root, paillier=True)
    assert result.paillier_key_id is not None and result.added == ()
    server = load_server_config(root / "server/server.toml")
    assert server.aggregation == "paillier"
    assert (root / "silos" / "alpha" / SHARE_FILE).exists()


def test_dealing_needs_every_silo_folder(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    (root / "silos" / "beta" / "silo.toml").rename(root / "beta.toml")
    with pytest.raises(ConfigError, match=r"silos/beta/silo\.toml is missing"):
        make(root, paillier=True)


@pytest.mark.parametrize("bits", [1024, 2047, 4096])
def test_key_sizes_other_than_2048_and_3072_are_refused(tmp_path: Path, bits: int) -> None:
    with pytest.raises(ConfigError, match="paillier_bits must be 2048 or 3072"):
        provision(
            deployment="demo", silos=SILOS, out=tmp_path / "d", paillier=True, paillier_bits=bits
        )
    assert not (tmp_path / "d").exists()


def test_the_cli_refuses_small_keys(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="fedseal")
    register(parser.add_subparsers(dest="command", required=True))
    base = ["provision", "--deployment", "x", "--silos", "a,b", "--out", "d", "--paillier"]
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([*base, "--paillier-bits", "1024"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    args = parser.parse_args(base)
    assert args.paillier and args.paillier_bits == 2048 and not args.redeal_paillier
    assert parser.parse_args([*base, "--paillier-bits", "3072"]).paillier_bits == 3072


# -- loading the files -------------------------------------------------------------------------


def test_a_share_copied_from_another_silo_is_refused(dep: ProvisionResult) -> None:
    key = load_deployment_key(
        dep.directory / "server" / PUBLIC_FILE, deployment_id="demo", silos=SILOS
    )
    with pytest.raises(ConfigError, match="copied from another silo"):
        load_key_share(dep.directory / "silos" / "alpha" / SHARE_FILE, key, "beta")


def test_a_world_readable_or_malformed_share_is_refused(
    tmp_path: Path, dep: ProvisionResult
) -> None:
    key = load_deployment_key(
        dep.directory / "server" / PUBLIC_FILE, deployment_id="demo", silos=SILOS
    )
    share = tmp_path / "share.key"
    share.write_bytes((dep.directory / "silos" / "alpha" / SHARE_FILE).read_bytes())
    os.chmod(share, 0o644)
    with pytest.raises(ConfigError, match="accessible to every user"):
        load_key_share(share, key, "alpha")
    os.chmod(share, 0o600)
    share.write_text("-----BEGIN FEDSEAL PAILLIER KEY SHARE-----\nAAAA\n")
    with pytest.raises(ConfigError, match="not a fedseal Paillier key share"):
        load_key_share(share, key, "alpha")


def test_a_public_key_of_another_deployment_or_silo_set_is_refused(dep: ProvisionResult) -> None:
    path = dep.directory / "server" / PUBLIC_FILE
    with pytest.raises(ConfigError, match="dealt for deployment 'demo', not 'other'"):
        load_deployment_key(path, deployment_id="other")
    with pytest.raises(ConfigError, match="not a silo of this deployment"):
        load_deployment_key(path, deployment_id="demo", silos=("alpha", "beta"))


def test_a_tampered_public_key_is_refused(tmp_path: Path, dep: ProvisionResult) -> None:
    doc = json.loads((dep.directory / "server" / PUBLIC_FILE).read_text())
    doc["key"]["threshold"] = 1
    path = tmp_path / PUBLIC_FILE
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="key_id does not match"):
        load_deployment_key(path, deployment_id="demo")


def test_silo_config_needs_both_paillier_paths(dep: ProvisionResult) -> None:
    silo = load_silo_config(dep.silo_configs["alpha"])
    values = {f: getattr(silo, f) for f in SiloConfig.__dataclass_fields__}
    with pytest.raises(ConfigError, match="paillier_key_share is set but paillier_public_key"):
        SiloConfig(**(values | {"paillier_public_key": None}))
    assert not SiloConfig(
        **(values | {"paillier_public_key": None, "paillier_key_share": None})
    ).paillier


# -- the key size a silo accepts ---------------------------------------------------------------


def test_provision_writes_the_insecure_flag_for_a_small_key(dep: ProvisionResult) -> None:
    for name in SILOS:
        path = dep.directory / "silos" / name / "silo.toml"
        assert "paillier_allow_insecure_bits = true" in path.read_text()
        assert load_silo_config(path).paillier_allow_insecure_bits is True
    assert "paillier_allow_insecure_bits" not in dep.server_config.read_text()


def test_a_masking_deployment_leaves_the_flag_off(tmp_path: Path) -> None:
    result = make(tmp_path / "d")
    for path in result.silo_configs.values():
        assert load_silo_config(path).paillier_allow_insecure_bits is False


def test_a_redeal_to_a_secure_key_turns_the_flag_off() -> None:
    silo_doc: dict[str, object] = {"paillier_allow_insecure_bits": True}
    server_doc: dict[str, object] = {}
    for bits, insecure in ((MIN_SECURE_KEY_BITS, False), (3072, False), (512, True)):
        deal = Deal(holders=("alpha",), bits=bits, allow_insecure=True, versioned=True)
        deal.point(silo_doc, silo=True)
        deal.point(server_doc, silo=False)
        assert silo_doc["paillier_allow_insecure_bits"] is insecure
        assert "paillier_allow_insecure_bits" not in server_doc


def _make_paillier(config: SiloConfig) -> Any:
    from fedseal.client.run import make_paillier, silo_policy
    from fedseal.secagg.identity import IdentityPublicKey

    directory = {s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()}
    identity = load_identity_key(config.identity_key)
    return make_paillier(config, identity=identity, directory=directory, policy=silo_policy(config))


def test_a_silo_refuses_a_small_key_without_the_flag(dep: ProvisionResult) -> None:
    config = load_silo_config(dep.silo_configs["alpha"])
    strict = replace(config, paillier_allow_insecure_bits=False)
    assert strict.paillier_public_key is not None
    message = rf"{strict.paillier_public_key}.* 512-bit key, below the minimum of 2048 bits"
    with pytest.raises(ConfigError, match=message):
        _make_paillier(strict)
    with pytest.raises(ConfigError, match=message):
        load_deployment_key(
            strict.paillier_public_key, deployment_id="demo", min_bits=MIN_SECURE_KEY_BITS
        )


def test_a_silo_loads_a_small_key_with_the_flag(dep: ProvisionResult) -> None:
    config = load_silo_config(dep.silo_configs["alpha"])
    assert config.paillier_allow_insecure_bits
    paillier = _make_paillier(config)
    assert paillier is not None
    assert paillier.key.public_key.key_bits == 512


def test_the_flag_must_be_a_bool(dep: ProvisionResult) -> None:
    config = load_silo_config(dep.silo_configs["alpha"])
    with pytest.raises(ConfigError, match="paillier_allow_insecure_bits must be a bool"):
        replace(config, paillier_allow_insecure_bits=1)
    text = dep.silo_configs["alpha"].read_text()
    bad = text.replace(
        "paillier_allow_insecure_bits = true", 'paillier_allow_insecure_bits = "yes"'
    )
    path = dep.silo_configs["alpha"].parent / "bad-silo.toml"
    path.write_text(bad)
    try:
        with pytest.raises(ConfigError, match="paillier_allow_insecure_bits"):
            load_silo_config(path)
    finally:
        path.unlink()
