"""The round policy ``fedseal provision`` writes: alike in server.toml and every silo.toml.

``corruption``, ``dropout``, ``min_participants`` and ``full_graph_max`` are written explicitly
into every file, with ``min_participants = default_min_participants(N, corruption)``; adding
silos raises a default ``min_participants`` to the new roster's and keeps an operator's choice.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fedseal.client.run import silo_policy
from fedseal.config import load_server_config, load_silo_config
from fedseal.deploy.files import dumps_toml
from fedseal.deploy.provision import ProvisionResult, provision
from fedseal.errors import ProtocolViolation
from fedseal.protocol.messages import RoundParams
from fedseal.protocol.policy import default_min_participants
from fedseal.secagg.graph import GraphKind
from fedseal.simulation.local_deployment import prepare_demo_deployment

POLICY = ("corruption", "dropout", "min_participants", "full_graph_max")
FIVE = ("s1", "s2", "s3", "s4", "s5")


def raw(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def policies(result: ProvisionResult) -> dict[str, dict[str, Any]]:
    """Every config file's round policy, as written (raw TOML, no loader defaults)."""
    files = {"server": result.server_config, **result.silo_configs}
    docs = {name: raw(path) for name, path in files.items()}
    return {name: {key: doc[key] for key in POLICY} for name, doc in docs.items()}


def edit(path: Path, **changes: Any) -> None:
    path.write_text(dumps_toml(raw(path) | changes))


def test_provision_writes_one_policy_into_every_file(tmp_path: Path) -> None:
    result = provision(deployment="d", silos=FIVE, out=tmp_path / "d")
    written = policies(result)
    expected = {"corruption": 0.05, "dropout": 0.1, "min_participants": 3, "full_graph_max": 100}
    assert written == {name: expected for name in ("server", *FIVE)}
    assert default_min_participants(5, 0.05) == 3
    server = load_server_config(result.server_config)
    assert server.min_participants == 3
    for name in FIVE:
        silo = load_silo_config(result.silo_configs[name])
        assert (silo.min_participants, silo.corruption) == (3, 0.05)
        policy = silo_policy(silo)
        assert (policy.roster_size, policy.min_participants, policy.dropout) == (5, 3, 0.1)


@pytest.mark.parametrize(("n", "expected"), [(2, 2), (3, 3), (8, 4), (11, 6)])
def test_min_participants_follows_the_roster(tmp_path: Path, n: int, expected: int) -> None:
    result = provision(deployment="d", silos=[f"s{i}" for i in range(n)], out=tmp_path / "d")
    assert {p["min_participants"] for p in policies(result).values()} == {expected}


def test_adding_silos_raises_the_default_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "d"
    provision(deployment="d", silos=FIVE, out=root)
    grown = provision(deployment="d", silos=("s6", "s7", "s8"), out=root)
    assert default_min_participants(8, 0.05) == 4
    assert {p["min_participants"] for p in policies(grown).values()} == {4}
    assert len(policies(grown)) == 9  # the server and eight silos, old and new
    assert not any("min_participants" in note for note in grown.notes)
    entries = [json.loads(line) for line in (root / "server/audit.jsonl").open()]
    changes = [e["details"] for e in entries if e["event"] == "config_changed"]
    assert {"setting": "min_participants", "old": 3, "new": 4} in changes


def test_adding_silos_keeps_an_operators_choice_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "d"
    first = provision(deployment="d", silos=FIVE, out=root)
    edit(first.server_config, min_participants=5, corruption=0.2, full_graph_max=50)
    edit(first.silo_configs["s1"], min_participants=2)
    grown = provision(deployment="d", silos=("s6", "s7", "s8"), out=root)
    written = policies(grown)
    assert written["server"] == {
        "corruption": 0.2, "dropout": 0.1, "min_participants": 5, "full_graph_max": 50
    }  # fmt: skip
    assert written["s1"]["min_participants"] == 2  # chosen at that silo: kept
    assert written["s2"]["min_participants"] == 4  # default for 5 (3) -> default for 8 (4)
    for name in ("s6", "s7", "s8"):  # new silos take the server's policy
        assert written[name] == written["server"]
    notes = "\n".join(grown.notes)
    assert "server.toml: min_participants kept at 5" in notes
    assert "silos/s1/silo.toml: min_participants kept at 2" in notes
    load_server_config(grown.server_config)
    for path in grown.silo_configs.values():
        load_silo_config(path)


def test_a_silo_folder_elsewhere_is_named_with_the_value_to_set(tmp_path: Path) -> None:
    root = tmp_path / "d"
    provision(deployment="d", silos=FIVE, out=root)
    shutil.move(root / "silos" / "s5", tmp_path / "s5-at-its-site")
    grown = provision(deployment="d", silos=("s6", "s7", "s8"), out=root)
    assert grown.not_updated == ("s5",)
    assert any("s5" in note and "min_participants = 4" in note for note in grown.notes)
    assert "match its min_participants to server.toml" in grown.summary()


def test_an_old_deployment_without_policy_keys_gets_them_written(tmp_path: Path) -> None:
    root = tmp_path / "d"
    first = provision(deployment="d", silos=FIVE, out=root)
    for path in (first.server_config, *first.silo_configs.values()):
        doc = {k: v for k, v in raw(path).items() if k not in POLICY}
        path.write_text(dumps_toml(doc))
    grown = provision(deployment="d", silos=("s6",), out=root)
    expected = {"corruption": 0.05, "dropout": 0.1, "min_participants": 3, "full_graph_max": 100}
    assert all(p == expected for p in policies(grown).values())


def test_the_demo_keeps_three_of_five_and_a_round_of_four_passes(tmp_path: Path) -> None:
    """The demo kills one of five silos after round 2; the next round has four."""
    server_path = prepare_demo_deployment(
        tmp_path / "demo", list(FIVE), port=50999, rounds=3, dp=False, aggregation="masking"
    )
    server = load_server_config(server_path)
    assert server.min_participants == 3
    silo = load_silo_config(tmp_path / "demo" / "silos" / "s1" / "silo.toml")
    assert silo.min_participants == 3
    policy = silo_policy(silo)

    def proposal(participants: tuple[str, ...], t: int) -> RoundParams:
        n = len(participants)
        return RoundParams("fedseal-demo", 3, participants, GraphKind.FULL, n - 1, t, 10, 32)

    assert policy.check(proposal(FIVE[:4], 3), 5).threshold == 3
    with pytest.raises(ProtocolViolation, match="min_participants is 3"):
        policy.check(proposal(FIVE[:2], 2), 5)


def test_the_server_sizes_rounds_with_its_configured_policy(tmp_path: Path) -> None:
    from fedseal.server.app import driver_config

    result = provision(deployment="d", silos=FIVE, out=tmp_path / "d")
    edit(result.server_config, corruption=0.2, dropout=0.3, full_graph_max=4, revoked=["s5"])
    config = driver_config(load_server_config(result.server_config))
    assert (config.min_silos, config.corruption, config.dropout) == (3, 0.2, 0.3)
    assert (config.full_graph_max, config.roster_size) == (4, 5)  # revoked silos stay counted
