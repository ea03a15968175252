"""``fedseal simulate --app``: a user's own app, run from its project folder, on N silos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedseal.errors import ConfigError
from fedseal.simulation.user_app import run_user_app

APP = """
import numpy as np

class App:
    def __init__(self, i, size):
        self.i, self.size = i, size
    def get_weights(self):
        return np.zeros(self.size)
    def fit(self, weights, config):
        return weights + 0.01 * (self.i + 1), 10, {}
    def evaluate(self, weights, config):
        return 0.25, 10, {"accuracy": 0.5}

def make_app(context):
    return App(context.settings["silo_index"], 7)

def uneven(context):
    return App(0, 7 + context.settings["silo_index"])
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "myproject"
    folder.mkdir()
    (folder / "my_fl_app.py").write_text(APP)
    monkeypatch.chdir(folder)  # the app module is found from the project folder
    return folder


@pytest.mark.parametrize("aggregation", ["masking", "none"])
def test_the_users_app_trains_over_the_protocol(project: Path, aggregation: str) -> None:
    lines: list[str] = []
    out = project / "run"
    result = run_user_app(
        "my_fl_app:make_app", silos=4, rounds=3, out=out, aggregation=aggregation,
        echo=lines.append,
    )  # fmt: skip
    assert all(s.completed for s in result.summaries)
    # mean update of silos 0..3 is 0.01 * (1+2+3+4)/4 = 0.025 per round
    np.testing.assert_allclose(result.weights, np.full(7, 0.075), atol=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [1, 2, 3]
    assert summary["rounds"][0]["accuracy"] == pytest.approx(0.5, abs=0.01)
    stored = np.load(out / "deployment" / "server" / "model.npy", allow_pickle=False)
    np.testing.assert_array_equal(stored, result.weights)
    assert lines[1].split()[:2] == ["1", "4"] and "[########......" in lines[1]  # progress bar


def test_clear_errors(project: Path) -> None:
    with pytest.raises(ConfigError, match="disagree on the model size"):
        run_user_app("my_fl_app:uneven", silos=3, rounds=1, out=project / "a", echo=print)
    (project / "b").mkdir()
    (project / "b" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        run_user_app("my_fl_app:make_app", silos=3, rounds=1, out=project / "b", echo=print)
    with pytest.raises(ConfigError, match="cannot import"):
        run_user_app("no_such_app:make_app", silos=3, rounds=1, out=project / "c", echo=print)
    with pytest.raises(ConfigError, match="silos >= 3"):
        run_user_app("my_fl_app:make_app", silos=2, rounds=1, out=project / "d", echo=print)


@pytest.mark.slow
def test_a_dp_app_in_simulation_writes_the_privacy_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDSEAL_DEMO_SILOS", "3")
    out = tmp_path / "run"
    result = run_user_app(
        "fedseal.demo.app:make_app", silos=3, rounds=2, out=out, dp=True, echo=print
    )
    assert all(s.completed for s in result.summaries)
    report = json.loads((out / "privacy-report.json").read_text())
    assert len(report["silos"]) == 3
    assert all(0 < s["epsilon"] <= 8.0 for s in report["silos"])
    assert json.loads((out / "summary.json").read_text())["rounds"][0]["accuracy"] == "–"
