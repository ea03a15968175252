"""House rules that must hold for the whole tree (DESIGN.md §2, STYLE.md rules 4 and 8).

Which package may import which (the sans-IO core never imports grpc or protobuf, nothing imports
``fedseal.demo`` or ``fedseal.bench``) are import-linter contracts: ``[tool.importlinter]`` in
pyproject.toml, checked by ``lint-imports`` in ``make lint``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import fedseal

SRC = Path(fedseal.__file__).parent


def _modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "_pb" not in p.parts]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_pickle_eval_or_pickled_numpy_anywhere() -> None:
    pattern = re.compile(
        r"import pickle|from pickle|allow_pickle\s*=\s*True|(?<![.\w])eval\(|cloudpickle"
    )
    for path in _modules():
        assert not pattern.search(path.read_text()), path


def test_secure_aggregation_core_uses_no_global_rng_or_clock() -> None:
    for package in ("secagg", "protocol"):
        for path in (SRC / package).rglob("*.py"):
            imported = _imports(path)
            assert "random" not in imported and "time" not in imported, path
            text = path.read_text()
            assert ("np.random" not in text and "os.urandom" not in text) or path.name in (
                "randomness.py"
            ), path


def test_the_protocol_sessions_start_no_thread_and_run_no_event_loop() -> None:
    """Issue 12: every state machine in protocol/ is sans-IO; executors are lent by callers."""
    for path in (SRC / "protocol").glob("*.py"):
        imported = _imports(path)
        for io_module in ("asyncio", "threading", "socket", "selectors", "subprocess"):
            assert io_module not in imported, (path, io_module)
        assert "ThreadPoolExecutor(" not in path.read_text(), path


def test_every_module_has_a_docstring_and_all_is_complete() -> None:
    for info in pkgutil.walk_packages(fedseal.__path__, "fedseal."):
        if "._pb" in info.name:
            continue
        module = importlib.import_module(info.name)
        assert module.__doc__ and module.__doc__.strip(), info.name
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"
