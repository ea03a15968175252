"""Issue 13's model lifecycle: per-round models kept with bounded retention, and exported."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from fedseal.errors import ConfigError
from fedseal.server import model_cli
from fedseal.server.state import ServerState


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fedseal")
    model_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    status: int = args.handler(args)
    return status


def test_the_newest_models_are_kept_and_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ServerState(tmp_path, deployment_id="d", keep_models=2)
    for k in (1, 2, 3):
        state.finish_round(np.full(4, float(k)))
    kept = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert kept == ["round-000002.npy", "round-000003.npy"]
    assert _run("model", "list", "--state", str(tmp_path)) == 0
    assert "round-000003.npy" in capsys.readouterr().out
    assert _run("model", "export", "--state", str(tmp_path), "--out", str(tmp_path / "m.npz")) == 0
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert int(data["round"]) == 3 and data["weights"].tolist() == [3.0] * 4
    out = tmp_path / "two.npy"
    assert _run("model", "export", "--state", str(tmp_path), "--round", "2", "--out", str(out)) == 0
    assert np.load(out, allow_pickle=False).tolist() == [2.0] * 4


def test_export_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no per-round models"):
        _run("model", "export", "--state", str(tmp_path), "--out", str(tmp_path / "m.npy"))
    state = ServerState(tmp_path, deployment_id="d", keep_models=1)
    state.finish_round(np.zeros(2))
    with pytest.raises(ConfigError, match=r"no kept model of round 7; kept: \[1\]"):
        _run("model", "export", "--state", str(tmp_path), "--round", "7", "--out", "x.npy")
    with pytest.raises(ConfigError, match=r"must end in \.npy or \.npz"):
        _run("model", "export", "--state", str(tmp_path), "--out", str(tmp_path / "m.pt"))
    off = ServerState(tmp_path / "off", deployment_id="d", keep_models=0)
    off.finish_round(np.zeros(2))
    assert not (tmp_path / "off" / "models").exists()
