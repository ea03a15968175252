"""``pip install fedseal`` without extras gives a working command (issue 13).

One fresh virtual environment (no system site-packages) gets a plain, non-editable
``pip install`` of a copy of this tree: the base dependencies come from the package index (pip's
cache is allowed), none of the extras. On it ``fedseal --help`` and every sub-command's
``--help``, ``fedseal provision``, ``fedseal audit verify`` on the provisioned server audit log,
``fedseal simulate`` and ``fedseal demo --no-dp`` work, torch, Opacus and matplotlib are absent,
and the commands that need them stop with the one line that names the ``dp`` extra.

The install's time and size are printed (``pytest -s``); the size is bounded so that a heavy
package (torch is about 750 MB) cannot slip into the base dependencies unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = "fedseal: error: this command needs the 'dp' extra: pip install 'fedseal[dp]'"
#: Largest base install accepted (site-packages, MB). It measured 345 MB, of which scikit-learn
#: and SciPy (with joblib, threadpoolctl, narwhals) are about 205 MB; torch alone is about 750 MB.
MAX_SITE_PACKAGES_MB = 500
INSTALL_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 120


class BaseVenv:
    """The fresh venv: where it is, and how to run its ``fedseal`` and ``python``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        }
        self.env["PYTHONNOUSERSITE"] = "1"

    def run(
        self, *argv: str, cwd: Path, timeout: float = COMMAND_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv[0]`` from this venv's ``bin`` with the rest as its arguments."""
        return subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def fedseal(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``fedseal ARGS`` of this venv."""
        return self.run("fedseal", *args, cwd=cwd)


def _copy_tree(dest: Path) -> Path:
    """What ``pip install .`` reads (pyproject, README, src/), without build leftovers."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return dest


def _size_mb(path: Path) -> float:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> BaseVenv:
    work = tmp_path_factory.mktemp("base-install")
    tree = _copy_tree(work / "tree")
    venv = BaseVenv(work / "venv")
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv.root)], check=True, timeout=COMMAND_TIMEOUT_S
    )
    assert "include-system-site-packages = false" in (venv.root / "pyvenv.cfg").read_text()
    start = time.monotonic()
    done = venv.run(
        "python", "-m", "pip", "install", "--quiet", str(tree), cwd=work, timeout=INSTALL_TIMEOUT_S
    )
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    (site,) = venv.root.glob("lib/python3*/site-packages")
    size = _size_mb(site)
    print(f"\nbase install: {seconds:.1f} s, site-packages {size:.0f} MB")
    assert size < MAX_SITE_PACKAGES_MB, f"base install is {size:.0f} MB"
    return venv


def test_installed_distributions_are_the_base_dependencies(base: BaseVenv, tmp_path: Path) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any("torch" in d for d in declared["dependencies"])
    code = (
        "import importlib.metadata as m; "
        "print(sorted(d.metadata['Name'].lower() for d in m.distributions()))"
    )
    names = base.run("python", "-c", code, cwd=tmp_path).stdout
    for present in ("cryptography", "pynacl", "numpy", "grpcio", "protobuf", "phe", "gmpy2"):
        assert f"'{present}'" in names, present
    for absent in ("torch", "opacus", "matplotlib"):
        assert f"'{absent}'" not in names, absent


@pytest.mark.parametrize("module", ["torch", "opacus", "matplotlib"])
def test_the_dp_extra_is_not_there(base: BaseVenv, tmp_path: Path, module: str) -> None:
    done = base.run("python", "-c", f"import {module}", cwd=tmp_path)
    assert done.returncode != 0
    assert f"No module named '{module}'" in done.stderr


def test_help_of_every_command(base: BaseVenv, tmp_path: Path) -> None:
    done = base.fedseal("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "provision" in done.stdout and "audit" in done.stdout
    commands = [
        ["simulate"], ["audit"], ["audit", "verify"], ["audit", "show"], ["audit", "export"],
        ["audit", "report"], ["audit", "repair"], ["privacy"], ["privacy", "report"],
        ["provision"], ["server"], ["client"], ["demo"], ["bench"], ["bench", "secagg"],
        ["bench", "audit"], ["bench", "dp"], ["bench", "paillier"], ["bench", "grpc"],
    ]  # fmt: skip
    for command in commands:
        done = base.fedseal(*command, "--help", cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("usage: fedseal"), (
            command,
            done.stderr,
        )


def test_provision_then_verify_the_server_audit_log(base: BaseVenv, tmp_path: Path) -> None:
    out = tmp_path / "deployment"
    done = base.fedseal(
        "provision", "--deployment", "base-install", "--silos", "a,b,c", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    silo = tomllib.loads((out / "silos" / "a" / "silo.toml").read_text())
    log = out / "server" / "audit.jsonl"
    done = base.fedseal("audit", "verify", "--key", silo["server_identity"], str(log), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "entries valid" in done.stdout
    text = log.read_text()
    assert "ca_created" in text
    log.write_text(text.replace("ca_created", "ca_forged!", 1))
    done = base.fedseal("audit", "verify", "--key", silo["server_identity"], str(log), cwd=tmp_path)
    assert done.returncode != 0


def test_simulate_runs_without_torch(base: BaseVenv, tmp_path: Path) -> None:
    done = base.fedseal("simulate", "--aggregation", "none", "--rounds", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "final test accuracy" in done.stdout


def test_demo_without_dp_runs_without_torch(base: BaseVenv, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = base.fedseal(
        "demo", "--no-dp", "--no-crash", "--rounds", "2", "--silos", "3", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--rounds", "1", "--out", "demo"],
        ["privacy", "report", "--state", ".", "--out", "report"],
        ["bench", "dp", "--steps", "1", "--repeats", "1"],
    ],
    ids=["demo", "privacy-report", "bench-dp"],
)
def test_dp_commands_name_the_extra(base: BaseVenv, tmp_path: Path, argv: list[str]) -> None:
    done = base.fedseal(*argv, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.splitlines() == [MESSAGE], done.stderr
    assert list(tmp_path.iterdir()) == []
