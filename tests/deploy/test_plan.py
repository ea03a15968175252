"""``fedseal provision`` as plan -> validate -> apply: planning writes nothing and holds no secret,
a refused run leaves the folder byte for byte as it was, and an interrupted apply is refused
(or completed) cleanly by the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from fedseal.audit import AuditLog, verify_log
from fedseal.config import load_server_config, load_silo_config
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.layout import MANIFEST
from fedseal.deploy.provision import (
    ProvisionResult,
    Request,
    apply,
    plan_create,
    plan_extend,
    provision,
    validate,
)
from fedseal.deploy.provision.plan import Ref
from fedseal.deploy.provision.request import PaillierRequest
from fedseal.errors import ConfigError

SILOS = ("alpha", "beta", "gamma")
SMALL_KEY = {"paillier_bits": 512, "paillier_allow_insecure_bits": True}


def make(root: Path, silos: tuple[str, ...] = SILOS, **kwargs: Any) -> ProvisionResult:
    return provision(deployment="demo", silos=silos, out=root, **kwargs)


def request(root: Path, silos: tuple[str, ...] = SILOS, *, deal: bool = False) -> Request:
    paillier = PaillierRequest(deal=deal, bits=512, allow_insecure=True)
    return Request(root=root, deployment="demo", silos=silos, paillier=paillier)


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` (and ``root``): its mode and, for a file, its bytes."""
    if not root.exists():
        return {}
    paths = [root, *sorted(root.rglob("*"))]
    return {
        str(p.relative_to(root)): (p.lstat().st_mode, p.read_bytes() if p.is_file() else None)
        for p in paths
    }


# -- planning --------------------------------------------------------------------------------


def test_a_create_plan_lists_every_file_writes_nothing_and_holds_no_secret(tmp_path: Path) -> None:
    root = tmp_path / "d"
    plan = plan_create(request(root, deal=True))
    assert not root.exists()
    files = {file.folder / str(file.name): file for file in plan.files}
    assert files[root / "ca/ca.key"].mode == 0o600
    assert files[root / "silos/beta/paillier-share.key"].content == Ref("paillier-share", "beta")
    assert files[root / "server/paillier-public.json"].mode == 0o644
    assert [c.path for c in plan.configs][-1] == root / "server/server.toml"
    assert plan.outcome.identities["alpha"] == Ref("identity", "alpha")  # a key not made yet
    assert plan.deal is not None and plan.deal.holders == SILOS
    assert plan.manifest is not None and b'deployment_id = "demo"' in plan.manifest
    assert "PRIVATE" not in repr(plan) and "BEGIN" not in repr(plan)

    result = apply(validate(plan))
    written = {p for p in root.rglob("*") if p.is_file()}
    configs = {c.path for c in plan.configs}
    assert written == set(files) | configs | {root / MANIFEST, result.audit_log}
    for path, file in files.items():
        assert stat.S_IMODE(path.stat().st_mode) == file.mode, path
    assert result.paillier_key_id is not None


def test_an_extend_plan_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    before = tree(root)
    plan = plan_extend(request(root, ("beta", "delta"), deal=True))
    assert tree(root) == before
    assert plan.outcome.added == ("delta",) and plan.outcome.existing == ("beta",)
    assert {f.folder / str(f.name) for f in plan.files} >= {
        root / "silos/delta/identity.key",
        root / "silos/alpha/paillier-share.key",
    }
    rewrites = [c.path for c in plan.configs if c.previous is not None]
    assert rewrites[-1] == root / "server/server.toml" and len(rewrites) == 1 + len(SILOS)
    events = [(e.event, e.details.get("setting")) for e in plan.audit]
    assert events == [("provisioning", None), ("config_changed", "silos"), ("provisioning", None)]
    again = plan_extend(request(root, ("beta",)))
    assert not again.writes and again.outcome.existing == ("beta",)


# -- refusals write nothing ------------------------------------------------------------------


def _paillier_deployment(root: Path) -> dict[str, Any]:
    make(root, paillier=True, **SMALL_KEY)
    return {"silos": ("delta",)}


def _leftover_public_key(root: Path) -> dict[str, Any]:
    make(root)
    (root / "server/paillier-public.json").write_text("{}")  # from an earlier key
    return {"silos": ("delta",), "paillier": True, **SMALL_KEY}


def _interrupted_folder(root: Path) -> dict[str, Any]:
    make(root)
    (root / "silos/delta").mkdir()
    return {"silos": ("delta",)}


def _foreign_silo_toml(root: Path) -> dict[str, Any]:
    make(root)
    shutil.copy(root / "silos/alpha/silo.toml", root / "silos/beta/silo.toml")
    return {"silos": ("delta",)}


def _open_ca_key(root: Path) -> dict[str, Any]:
    make(root)
    os.chmod(root / "ca/ca.key", 0o644)
    return {"silos": ("delta",)}


def _overflowing_roster(root: Path) -> dict[str, Any]:
    make(root)
    server_toml = root / "server/server.toml"
    text = server_toml.read_text().replace("bits = 16", "bits = 32")
    text = text.replace("max_weight = 1000", f"max_weight = {2**30}")
    server_toml.write_text(text.replace("modulus_bits = 32", "modulus_bits = 64"))
    load_server_config(server_toml)  # valid for 3 silos, not for 5
    return {"silos": ("delta", "eps")}


def _partial_folder(root: Path) -> dict[str, Any]:
    (root / "ca").mkdir(parents=True)
    return {}


def _open_replaced_folder(root: Path) -> dict[str, Any]:
    make(root)
    (root / "replaced").mkdir(mode=0o755)
    os.chmod(root / "replaced", 0o755)
    return {"silos": ("x", "y"), "force_new": True}


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (_paillier_deployment, "--redeal-paillier"),
        (_leftover_public_key, r"refusing to overwrite existing file .*paillier-public\.json"),
        (_interrupted_folder, "an interrupted run"),
        (_foreign_silo_toml, "is silo 'alpha' of deployment 'demo', expected 'beta'"),
        (_open_ca_key, "accessible to every user"),
        (_overflowing_roster, "server.toml would be invalid: the aggregate could wrap around"),
        (_partial_folder, "holds 'ca' but no deployment.toml"),
        (_open_replaced_folder, "replaced is accessible to other users"),
    ],
)
def test_a_refused_run_leaves_the_folder_byte_for_byte_unchanged(
    tmp_path: Path, setup: Any, match: str
) -> None:
    root = tmp_path / "d"
    kwargs = setup(root)
    before = tree(root)
    with pytest.raises(ConfigError, match=match):
        make(root, **kwargs)
    assert tree(root) == before


def test_a_create_plan_over_an_existing_deployment_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    before = tree(root)
    with pytest.raises(ConfigError, match="holds a deployment already"):
        validate(plan_create(request(root, ("x", "y"))))
    assert tree(root) == before


def test_a_config_changed_since_planning_is_not_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    plan = validate(plan_extend(request(root, ("delta",))))
    silo_toml = root / "silos/beta/silo.toml"
    silo_toml.write_text(
        silo_toml.read_text().replace("epsilon_budget = 8.0", "epsilon_budget = 2.0")
    )
    before = tree(root)
    with pytest.raises(ConfigError, match=r"silos/beta/silo\.toml changed while provisioning"):
        apply(plan)
    assert tree(root) == before


# -- interruptions ---------------------------------------------------------------------------


def test_an_extend_stopped_before_server_toml_leaves_the_deployment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fedseal.deploy.provision import writing as writing

    root = tmp_path / "d"
    make(root)
    server_toml = root / "server/server.toml"
    server_before = server_toml.read_bytes()
    write_config = writing.write_config

    def stop_at_server_toml(path: Path, doc: Any, what: str) -> None:
        if path == server_toml:
            raise KeyboardInterrupt
        write_config(path, doc, what)

    monkeypatch.setattr(writing, "write_config", stop_at_server_toml)
    with pytest.raises(KeyboardInterrupt):
        make(root, ("delta",))
    monkeypatch.undo()
    assert server_toml.read_bytes() == server_before  # the roster did not change
    key = load_identity_key(root / "server/identity.key").public_key
    assert verify_log(root / "server/audit.jsonl", key=key).ok
    entries = [json.loads(line) for line in (root / "server/audit.jsonl").open()]
    assert entries[-1]["details"]["setting"] == "silos"  # recorded ahead of the change
    with pytest.raises(ConfigError, match=r"delta.*an interrupted run"):
        make(root, ("delta",))
    shutil.rmtree(root / "silos/delta")
    grown = make(root, ("delta",))
    assert grown.added == ("delta",)
    for path in grown.silo_configs.values():
        assert set(load_silo_config(path).identities) == {*SILOS, "delta"}


def test_a_create_stopped_before_its_manifest_is_refused_as_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fedseal.deploy.provision import writing as writing

    def stop(path: Path, data: bytes, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    root = tmp_path / "d"
    monkeypatch.setattr(writing, "write_atomic", stop)
    with pytest.raises(KeyboardInterrupt):
        make(root)
    monkeypatch.undo()
    assert (root / "server/server.toml").exists() and not (root / MANIFEST).exists()
    with pytest.raises(ConfigError, match=r"no deployment\.toml"):
        make(root)
    fresh = make(root, force_new=True)
    assert fresh.created and fresh.replaced is not None


def test_the_audit_log_is_locked_before_the_first_write(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    plan = validate(plan_extend(request(root, ("delta",))))
    before = tree(root)
    key = load_identity_key(root / "server/identity.key")
    log = AuditLog(root / "server/audit.jsonl", party="server", identity=key)
    with log, pytest.raises(ConfigError, match="another process"):
        apply(plan)
    assert tree(root) == before
