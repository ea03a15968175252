"""Optional dependencies (issue 13): a missing extra is one clear line, never a traceback.

The ``dp`` extra (torch, Opacus, matplotlib) is hidden here by setting its modules to None in
``sys.modules`` (``importlib.util.find_spec`` then reports them missing, as on a base install).
``tests/test_base_install.py`` checks the same on a real base-only install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fedseal.cli import main
from fedseal.errors import ConfigError, FedsealError, MissingExtraError
from fedseal.extras import EXTRAS, missing, require

MESSAGE = "this command needs the 'dp' extra: pip install 'fedseal[dp]'"


@pytest.fixture
def no_dp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torch, Opacus and matplotlib look uninstalled."""
    for module in EXTRAS["dp"]:
        monkeypatch.setitem(sys.modules, module, None)


def test_require_passes_when_installed() -> None:
    require("dp")  # the dev venv has .[all,dev]
    require("dp", "opacus")
    assert missing("dp") == []


@pytest.mark.usefixtures("no_dp")
def test_require_names_the_extra_and_the_pip_command() -> None:
    with pytest.raises(MissingExtraError) as caught:
        require("dp", "opacus")
    err = caught.value
    assert str(err) == MESSAGE
    assert err.extra == "dp" and err.name == "opacus"
    assert isinstance(err, FedsealError) and isinstance(err, ImportError)
    assert missing("dp") == ["torch", "opacus", "matplotlib"]


def test_unknown_extra_or_module_is_the_callers_mistake() -> None:
    with pytest.raises(ConfigError, match="unknown extra"):
        require("gpu")
    with pytest.raises(ConfigError, match="does not provide"):
        require("dp", "numpy")


@pytest.mark.usefixtures("no_dp")
@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--rounds", "1"],
        ["privacy", "report", "--state", "{tmp}", "--out", "{tmp}/report"],
        ["bench", "dp", "--steps", "1", "--repeats", "1"],
    ],
    ids=["demo", "privacy-report", "bench-dp"],
)
def test_dp_commands_print_one_line_and_touch_nothing(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"fedseal: error: {MESSAGE}\n" and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # no demo folder, no report


@pytest.mark.usefixtures("no_dp")
def test_privacy_accounting_and_trainer_need_the_extra() -> None:
    import fedseal.dp
    from fedseal.dp.accounting import epsilon

    with pytest.raises(MissingExtraError):
        epsilon([(1.0, 0.01, 10)], delta=1e-5, accountant="rdp")
    with pytest.raises(MissingExtraError):
        epsilon([(1.0, 0.01, 10)], delta=1e-5, accountant="rdp", relation="replace_one")
    with pytest.raises(MissingExtraError):
        _ = fedseal.dp.PrivateTrainer
    assert fedseal.dp.DPConfig is not None  # the config and the ledger need no extra


def test_help_imports_nothing_but_the_standard_library() -> None:
    """``fedseal --help`` builds every sub-command's parser without numpy, gmpy2 or torch."""
    code = (
        "import sys; from fedseal.cli import _build_parser; _build_parser(); "
        "names = {m.split('.')[0] for m in sys.modules if not m.startswith('_')}; "
        "print(sorted(names - set(sys.stdlib_module_names) - {'fedseal'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
