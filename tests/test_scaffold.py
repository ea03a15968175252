"""``fedseal new``: a generated project runs in simulation out of the box; bad input is refused."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedseal.cli import main
from fedseal.client.app import SiloApp, SiloContext
from fedseal.errors import ConfigError
from fedseal.scaffold import new_project
from fedseal.simulation.user_app import run_user_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_app_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each generated project has its own ``app`` module: never reuse another test's."""
    monkeypatch.delitem(sys.modules, "app", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # run_user_app adds the cwd
    yield
    sys.modules.pop("app", None)


def _generate(tmp_path: Path, template: str, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["new", "my_site", "--template", template, "--dir", str(tmp_path)]) == 0
    assert "fedseal simulate --app app:make_app" in capsys.readouterr().out
    project = tmp_path / "my_site"
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "app.py", "pyproject.toml"]
    return project


@pytest.mark.parametrize(
    ("template", "example"), [("torch", "torch_digits"), ("sklearn", "sklearn_cancer")]
)
def test_the_template_is_the_example(template: str, example: str, tmp_path: Path) -> None:
    project = new_project("site", template, tmp_path)
    assert (project / "app.py").read_text() == (ROOT / "examples" / example / "app.py").read_text()
    text = (project / "app.py").read_text()
    assert "def load_partition(context: SiloContext)" in text and "own data" in text
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "site"' in pyproject and 'requires-python = ">=3.11"' in pyproject
    assert ("pip install 'fedseal[dp]'" in pyproject) == (template == "torch")
    readme = (project / "README.md").read_text()
    assert "fedseal simulate --app app:make_app --silos 5" in readme
    assert "fedseal client --config silo.toml --app app:make_app" in readme


def test_generated_sklearn_project_simulates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _generate(tmp_path, "sklearn", capsys)
    monkeypatch.chdir(project)
    result = run_user_app(
        "app:make_app", silos=3, rounds=2, out=project / "run", echo=lambda line: None
    )
    assert len(result.summaries) == 2 and all(s.completed for s in result.summaries)
    assert importlib.import_module("app").test_accuracy(result.weights) > 0.9


def test_generated_torch_project_builds_and_simulates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _generate(tmp_path, "torch", capsys)
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    module = importlib.import_module("app")
    context = SiloContext("hospital-a", tmp_path, None, {"silo_index": 0, "silos": 3})
    app = module.make_app(context)
    assert isinstance(app, SiloApp) and len(app.get_weights()) == 6  # 3 layers: weight, bias
    assert app.layer_names() == [
        "1.weight", "1.bias", "4.weight", "4.bias", "8.weight", "8.bias"
    ]  # fmt: skip
    result = run_user_app(
        "app:make_app", silos=3, rounds=2, out=project / "run", echo=lambda line: None
    )
    assert len(result.summaries) == 2 and all(s.completed for s in result.summaries)


@pytest.mark.parametrize("name", ["my-site", "1site", "class", "my site", "", "café"])
def test_invalid_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid Python package name"):
        new_project(name, "sklearn", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_non_empty_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "site").mkdir()
    new_project("site", "sklearn", tmp_path)  # an empty folder is fine
    before = (tmp_path / "site" / "app.py").read_text()
    assert main(["new", "site", "--template", "torch", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and err.startswith("fedseal: error:")
    assert (tmp_path / "site" / "app.py").read_text() == before  # untouched
    with pytest.raises(ConfigError, match="unknown template"):
        new_project("other", "keras", tmp_path)


def test_unknown_template_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["new", "site", "--template", "keras"])
    assert "invalid choice" in capsys.readouterr().err
