"""Issue 13's model lifecycle: per-round models kept with bounded retention, and exported."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal import model_file
from fedseal.errors import ConfigError
from fedseal.protocol.hello import Hello, LayerSpec, roster_digest
from fedseal.server import model_cli
from fedseal.server.admission import Admission
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
    with pytest.raises(
        ConfigError, match=r"say --format npy\|npz\|torch: cannot tell it from m\.pt"
    ):
        _run("model", "export", "--state", str(tmp_path), "--out", str(tmp_path / "m.pt"))
    with pytest.raises(ConfigError, match=r"no layout\.json .* use --format npz"):
        _run("model", "export", "--state", str(tmp_path), "--format", "torch", "--out", "m.pt")
    off = ServerState(tmp_path / "off", deployment_id="d", keep_models=0)
    off.finish_round(np.zeros(2))
    assert not (tmp_path / "off" / "models").exists()


def _declare(state_dir: Path, layout: tuple[LayerSpec, ...]) -> None:
    """What a silo's Hello leaves in the server's state (``server/admission.py``)."""
    roster = {"a": "00" * 32}
    hello = Hello("d", "a", roster_digest(roster), ("a",), layout)
    admission = Admission(deployment_id="d", roster=roster, dim=hello.model_size,
                          state_dir=state_dir)  # fmt: skip
    assert admission.check("a", hello) is None


def test_torch_export_is_a_state_dict_the_module_loads(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import fedseal.torch

    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    names = fedseal.torch.names(module)
    arrays = fedseal.torch.arrays(module)
    _declare(tmp_path, tuple(LayerSpec(n, a.shape) for n, a in zip(names, arrays, strict=True)))
    state = ServerState(tmp_path, deployment_id="d")
    flat = np.arange(11, dtype=np.float64) / 8  # exact in float32
    state.finish_round(flat)
    out = tmp_path / "model.safetensors"
    assert _run("model", "export", "--state", str(tmp_path), "--out", str(out)) == 0
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    fresh.load_state_dict(fedseal.torch.load_file(out))
    got = np.concatenate([a.ravel() for a in fedseal.torch.arrays(fresh)])
    np.testing.assert_array_equal(got, flat)
    assert list(fedseal.torch.load_file(out)) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_torch_export_needs_named_arrays(tmp_path: Path) -> None:
    _declare(tmp_path, (LayerSpec("", (4,)),))
    ServerState(tmp_path, deployment_id="d").finish_round(np.zeros(4))
    with pytest.raises(ConfigError, match=r"did not name their arrays .* layer_names\(\)"):
        _run("model", "export", "--state", str(tmp_path), "--out", str(tmp_path / "m.safetensors"))


def test_safetensors_files_match_the_reference_implementation(tmp_path: Path) -> None:
    """Interoperability with Hugging Face's own reader and writer (the ``safetensors`` package)."""
    st = pytest.importorskip("safetensors.numpy")
    arrays = {"b.weight": np.arange(6.0).reshape(2, 3), "a.bias": np.array([0.5, -1.0])}
    ours = tmp_path / "ours.safetensors"
    model_file.write(ours, arrays, dtype="F64", metadata={"round": "3"})
    theirs = st.load_file(str(ours))
    assert set(theirs) == set(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(theirs[name], value)
    written = tmp_path / "theirs.safetensors"
    st.save_file({k: v.astype(np.float32) for k, v in arrays.items()}, str(written), {"x": "y"})
    back, metadata = model_file.read(written)
    assert metadata == {"x": "y"} and set(back) == set(arrays)
    np.testing.assert_array_equal(back["b.weight"], arrays["b.weight"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:5],  # too short
        lambda d: b"\xff" * 8 + d[8:],  # header length beyond the file
        lambda d: d[:8] + b"[" + d[9:],  # header not JSON
        lambda d: d[:-1],  # a truncated buffer
        lambda d: d + b"\0" * 8,  # bytes no array owns
        lambda d: d.replace(b'"F64"', b'"I64"'),  # not a float dtype
        lambda d: d.replace(b"[0,16]", b"[0,15]"),  # offsets that do not fit the shape
    ],
    ids=["short", "length", "json", "truncated", "trailing", "dtype", "offsets"],
)
def test_a_damaged_safetensors_file_is_a_clear_error(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "m.safetensors"
    model_file.write(path, {"w": np.ones(2)}, dtype="F64")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ConfigError, match=r"safetensors|malformed|cover"):
        model_file.read(path)
