"""The demo's fault injection lives in the demo: the agent subclass dies on its trigger only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.demo import faults
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.secagg.identity import IdentityKey


class _App:
    def get_weights(self) -> Any:
        return np.zeros(2)


def _agent(tmp_path: Path, fault: str) -> faults.FaultInjectingAgent:
    key = IdentityKey.generate()
    return faults.FaultInjectingAgent(
        fault=fault, silo="s", deployment_id="dep", identity_key=key,
        directory={"s": key.public_key}, server_identity=IdentityKey.generate().public_key,
        app=_App(), state_dir=tmp_path,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "trigger"),
    [
        ("kill-after-share:2", m.ShareDelivery("dep", 2, ())),
        ("kill-before-decrypt:2", c.DecryptRequest("dep", 2, ())),
    ],
)
def test_the_agent_kills_itself_on_its_trigger_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, trigger: Any
) -> None:
    kills: list[int] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: kills.append(sig))
    agent = _agent(tmp_path, fault)
    other_round = type(trigger)("dep", 1, ())
    agent.handle(other_round)
    assert kills == []
    agent.handle(trigger)
    assert kills == [faults.signal.SIGKILL]


@pytest.mark.parametrize("spec", ["kill-after-share", "explode:2", "kill-after-share:x"])
def test_a_bad_fault_is_refused_before_the_silo_starts(spec: str) -> None:
    with pytest.raises(ConfigError, match="fault must be one of"):
        faults.main(["--fault", spec, "--config", "silo.toml", "--app", "m:f"])


def test_the_library_agent_has_no_fault_injection() -> None:
    import fedseal.client.agent as agent

    source = Path(agent.__file__).read_text()
    assert "SIGKILL" not in source and "FEDSEAL_FAULT" not in source
