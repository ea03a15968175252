"""Issue 13: a silo's app and its settings from silo.toml's [app] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedseal.client.run import app_for
from fedseal.config import load_silo_config
from fedseal.deploy.layout import read_raw, write_config
from fedseal.deploy.provision import provision
from fedseal.errors import ConfigError

APP = """
class App:
    def __init__(self, settings):
        self.settings = settings
    def get_weights(self):
        return [0.0]
    def fit(self, weights, config):
        return weights, 1, {}
    def evaluate(self, weights, config):
        return 0.0, 1, {}

def make_app(context):
    return App(dict(context.settings))
"""


@pytest.fixture
def silo_toml(tmp_path: Path) -> Path:
    result = provision(deployment="d", silos=["a", "b", "c"], out=tmp_path / "dep")
    path = Path(result.silo_configs["a"])
    (path.parent / "site_app_for_test.py").write_text(APP)  # beside silo.toml
    return path


def _with_app(path: Path, table: dict[str, object]) -> Path:
    doc = read_raw(path)
    doc["app"] = table
    write_config(path, doc, "a")
    return path


def test_the_factory_and_settings_come_from_the_app_table(silo_toml: Path) -> None:
    path = _with_app(
        silo_toml, {"factory": "site_app_for_test:make_app", "data": "/srv/a.csv", "epochs": 3}
    )
    app = app_for(load_silo_config(path), path, None)
    assert app.settings == {"data": "/srv/a.csv", "epochs": 3}  # type: ignore[attr-defined]


def test_errors_name_the_table(silo_toml: Path) -> None:
    with pytest.raises(ConfigError, match=r"give --app module:function or set factory"):
        app_for(load_silo_config(silo_toml), silo_toml, None)
    for table, match in (
        ({"factory": "no-colon"}, "factory must look like 'module:function'"),
        ({"nested": {"x": 1}}, "must be a string, number or boolean"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_silo_config(_with_app(silo_toml, table))
