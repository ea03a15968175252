"""``fedseal simulate --executor process``: the apps in worker processes, the rest in the driver."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fedseal.errors import PrivacyBudgetExceeded
from fedseal.simulation.app_pool import AppPool
from fedseal.simulation.app_worker import decode_weights, encode_weights
from fedseal.simulation.user_app import run_user_app

APP = textwrap.dedent(
    '''
    import numpy as np
    from fedseal.errors import PrivacyBudgetExceeded

    class App:
        """Moves each array by 0.1; silo 0 fails in round 1, silo 1 is out of budget in 2."""

        def __init__(self, context):
            self.index = int(context.settings["silo_index"])

        def get_weights(self):
            return [np.zeros((2, 3)), np.zeros(2)]

        def layer_names(self):
            return ["w", "b"]

        def fit(self, weights, config):
            if self.index == 0 and config["round"] == 1:
                raise ValueError("bad data on this site")
            if self.index == 1 and config["round"] == 2:
                raise PrivacyBudgetExceeded("out of budget")
            return [w + 0.1 for w in weights], 1, {}

        def evaluate(self, weights, config):
            return 0.5, 1, {"accuracy": 0.25}

    def make_app(context):
        return App(context)
    '''
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pool_app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_weights_travel_as_npy_or_npz_and_come_back_equal() -> None:
    flat = np.arange(5.0)
    kind, data = encode_weights(flat)
    assert kind == "flat" and np.array_equal(decode_weights(kind, data), flat)
    arrays = [np.ones((2, 2)), np.array([np.nan, 1.0])]
    kind, data = encode_weights(arrays)
    back = decode_weights(kind, data)
    assert kind == "list" and [a.shape for a in back] == [(2, 2), (2,)]
    assert np.array_equal(back[1], arrays[1], equal_nan=True)


def test_a_remote_app_answers_like_the_app_and_its_failures_come_back(project: Path) -> None:
    contexts = {f"s{i}": (project / f"s{i}", None, {"silo_index": i, "silos": 3}) for i in range(3)}
    with AppPool("pool_app:make_app", contexts, workers=2) as pool:
        a, b = pool.apps["s0"], pool.apps["s1"]
        assert [w.shape for w in a.get_weights()] == [(2, 3), (2,)]
        assert a.layer_names() == ["w", "b"] and not hasattr(a, "privacy_plan")
        new, n, metrics = b.fit(a.get_weights(), {"round": 1})
        assert n == 1 and metrics == {} and np.allclose(new[0], 0.1)
        assert a.evaluate(new, {"round": 1}) == (0.5, 1, {"accuracy": 0.25})
        with pytest.raises(RuntimeError, match="in the app worker: ValueError: bad data"):
            a.fit(new, {"round": 1})
        with pytest.raises(PrivacyBudgetExceeded, match="out of budget"):
            b.fit(new, {"round": 2})


def test_simulate_with_the_process_executor_abstains_on_app_failures(project: Path) -> None:
    result = run_user_app(
        "pool_app:make_app", silos=4, rounds=2, out=project / "run", executor="process",
        workers=2, echo=lambda line: None,
    )  # fmt: skip
    first, second = result.summaries
    assert first.completed and second.completed
    reasons = {d["silo"]: d["reason"] for d in first.dropouts}
    assert "in the app worker: ValueError: bad data on this site" in next(iter(reasons.values()))
    assert len(reasons) == 1 and len(second.dropouts) == 1  # silo 1's budget refusal
    assert "privacy budget" in second.dropouts[0]["reason"]
    summary = json.loads((project / "run" / "summary.json").read_text())
    assert summary["executor"] == "process"
    np.testing.assert_allclose(result.weights, 0.2, atol=1e-3)  # each round moved by 0.1


def test_simulated_silo_names_stay_valid_past_26() -> None:
    """``fedseal simulate --silos 30`` once crashed: the 27th name was ``hospital-{``."""
    from fedseal.names import check_silo_name
    from fedseal.simulation.data import silo_names

    names = silo_names(800)
    assert names[:2] == ["hospital-a", "hospital-b"] and names[26:28] == [
        "hospital-aa",
        "hospital-ab",
    ]
    assert len(set(names)) == 800 and all(check_silo_name(n) == n for n in names)
