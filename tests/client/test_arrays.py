"""Apps that exchange their model as a list of arrays (one per layer), and the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.client.arrays import Layout, layout_of
from fedseal.simulation.loopback import LoopbackConfig, run_loopback

SHAPES = ((3, 2), (2,))


def test_layout_round_trip_and_named_errors() -> None:
    layout = layout_of([np.ones((3, 2)), np.zeros(2)])
    assert layout == Layout(SHAPES) and layout.size == 8
    vector = np.arange(8.0)
    w, b = layout.unflatten(vector)
    assert w.shape == (3, 2) and b.tolist() == [6.0, 7.0]
    np.testing.assert_array_equal(layout.flatten([w, b]), vector)
    with pytest.raises(ValueError, match=r"array 1 has shape \(3,\), expected \(2,\)"):
        layout.flatten([w, np.zeros(3)])
    with pytest.raises(ValueError, match="expected 2 arrays, got 1"):
        layout.flatten([w])
    with pytest.raises(ValueError, match="the model has 9 values; this app's has 8"):
        layout.unflatten(np.zeros(9))
    assert layout_of(np.zeros(5)) is None  # a flat vector: the old API
    with pytest.raises(ValueError, match="one flat vector or a list"):
        layout_of(np.zeros((2, 2)))


class LayerApp:
    """Moves each layer by ``(i + 1) * 0.1``; ``bad`` returns a wrong shape in round 1."""

    def __init__(self, bad: bool = False) -> None:
        self.bad, self.rounds = bad, 0

    def get_weights(self) -> list[np.ndarray[Any, Any]]:
        return [np.zeros(s) for s in SHAPES]

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        self.rounds += 1
        assert [w.shape for w in weights] == list(SHAPES)  # given shaped as get_weights()
        if self.bad and self.rounds == 1:
            return [weights[0], np.zeros(5)], 1, {}
        return [w + (i + 1) * 0.1 for i, w in enumerate(weights)], 1, {}

    def evaluate(self, weights: Any, config: Mapping[str, Any]) -> tuple[float, int, Any]:
        return 0.5, 1, {"accuracy": 0.5}


def test_a_per_layer_app_trains_and_a_wrong_layer_shape_abstains() -> None:
    apps = {s: LayerApp(bad=(s == "b")) for s in ("a", "b", "c", "d")}
    result = run_loopback(apps, np.zeros(8), LoopbackConfig(aggregation="masking", rounds=2))
    first, second = result.summaries
    assert first.completed and [d["silo"] for d in first.dropouts] == ["b"]
    assert "array 1 has shape (5,), expected (2,)" in first.dropouts[0]["reason"]
    assert second.survivors == ("a", "b", "c", "d")
    np.testing.assert_allclose(result.weights, [0.2] * 6 + [0.4] * 2, atol=1e-3)


@pytest.mark.parametrize("aggregation", ["none", "masking"])
def test_a_model_no_app_accepts_stops_the_server_at_once(aggregation: str) -> None:
    """Issue 13: an initial model of the wrong size used to burn round after round; now each
    silo's Hello declares its app's layout and the server stops before round 1."""
    from fedseal.errors import RoundAbortedError

    apps = {s: LayerApp() for s in ("a", "b", "c")}
    config = LoopbackConfig(aggregation=aggregation, rounds=3, timeout_s=30)
    expected = (
        r"the server's model \(9 values\) fits the app of no silo that connected: 3 of 3 "
        r"refused \(a, b, c\).*"
        r"a's app has a model of 2 arrays, 8 values"
    )
    with pytest.raises(RoundAbortedError, match=expected):
        run_loopback(apps, np.zeros(9), config)
    assert all(app.rounds == 0 for app in apps.values())  # no round was run


def test_torch_adapter_round_trip() -> None:
    torch = pytest.importorskip("torch")
    from fedseal import torch as fedseal_torch

    module = torch.nn.Linear(4, 3)
    got = fedseal_torch.arrays(module)
    assert [a.shape for a in got] == [(3, 4), (3,)] and got[0].dtype == np.float64
    fedseal_torch.load(module, [np.ones((3, 4)), np.full(3, 2.0)])
    assert float(module.weight.sum()) == 12.0 and float(module.bias.sum()) == 6.0
    with pytest.raises(ValueError, match=r"weight: shape \(4, 3\)"):
        fedseal_torch.load(module, [np.ones((4, 3)), np.zeros(3)])


def test_sklearn_adapter_round_trip() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from fedseal import sklearn as fedseal_sklearn

    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    fitted = LogisticRegression(max_iter=200).fit(x, y)
    fresh = LogisticRegression()
    fedseal_sklearn.load(fresh, fedseal_sklearn.arrays(fitted), classes=[0, 1])
    np.testing.assert_array_equal(fresh.predict(x), fitted.predict(x))
    assert [a.shape for a in fedseal_sklearn.zeros(30)] == [(1, 30), (1,)]


class NamedLayerApp(LayerApp):
    """A :class:`LayerApp` that names its arrays (as ``fedseal.torch.names`` does)."""

    def layer_names(self) -> list[str]:
        return ["dense.weight", "dense.bias"]


class WideApp(LayerApp):
    """An app whose model has one more value than the others'."""

    def get_weights(self) -> list[np.ndarray[Any, Any]]:
        return [np.zeros((3, 2)), np.zeros(3)]


def test_a_silo_whose_app_does_not_fit_is_refused_at_connect_and_the_rest_train(
    tmp_path: Path,
) -> None:
    import json

    from fedseal.audit.export import read_entries

    apps: dict[str, Any] = {s: NamedLayerApp() for s in ("a", "b", "c")}
    apps["d"] = WideApp()
    config = LoopbackConfig(aggregation="masking", rounds=1, min_participants=3)
    result = run_loopback(apps, np.zeros(8), config, state_dir=tmp_path / "run")
    (summary,) = result.summaries
    assert summary.completed and summary.participants == ("a", "b", "c")
    assert apps["d"].rounds == 0
    layout = json.loads((tmp_path / "run" / "server" / "layout.json").read_text())
    assert layout == {
        "arrays": [{"name": "dense.weight", "shape": [3, 2]}, {"name": "dense.bias", "shape": [2]}],
        "values": 8,
        "declared_by": ["a", "b", "c"],
        "disputed_by": [],
    }
    refused = [
        e.details
        for e in read_entries(tmp_path / "run" / "server" / "audit.jsonl")[0]
        if e.event == "party_authenticated" and e.outcome == "refused"
    ]
    assert refused == [
        {
            "peer": "d",
            "reason": "d's app has a model of 2 arrays, 9 values; the server's model has 8 "
            "values: check the server's --init-model or the app",
        }
    ]


def test_one_silo_whose_app_does_not_fit_cannot_stop_the_server(tmp_path: Path) -> None:
    """min_participants 3 of 3, one app too wide: the server waits (naming it), never stops."""
    from fedseal.errors import RoundAbortedError

    apps: dict[str, Any] = {s: LayerApp() for s in ("a", "b")}
    apps["c"] = WideApp()
    config = LoopbackConfig(rounds=1, min_participants=3, connect_timeout_s=0.2, timeout_s=2)
    with pytest.raises(RoundAbortedError, match="did not finish within 2 s"):
        run_loopback(apps, np.zeros(8), config, state_dir=tmp_path / "run")


class RenamingApp(NamedLayerApp):
    """Declares the same shapes under other names (a hostile silo renaming the export)."""

    def layer_names(self) -> list[str]:
        return ["dense.bias", "dense.weight"]


def test_a_disputed_layout_is_recorded_and_not_exported(tmp_path: Path) -> None:
    import json

    from fedseal.errors import ConfigError
    from fedseal.server import model_cli

    apps: dict[str, Any] = {s: NamedLayerApp() for s in ("a", "b", "c")}
    apps["d"] = RenamingApp()
    run_loopback(apps, np.zeros(8), LoopbackConfig(rounds=1), state_dir=tmp_path / "run")
    state = tmp_path / "run" / "server"
    layout = json.loads((state / "layout.json").read_text())
    assert layout["declared_by"] == ["a", "b", "c"] and layout["disputed_by"] == ["d"]
    assert layout["arrays"][0]["name"] == "dense.weight"  # the majority's layout stands
    import argparse

    parser = argparse.ArgumentParser()
    model_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["model", "export", "--state", str(state), "--out", "m.safetensors"])
    with pytest.raises(ConfigError, match=r"different layouts \(d against a, b, c\)"):
        args.handler(args)
