"""Every package's public API: each module's ``__all__`` resolves, every public class and
function it names is documented, and no module exports a private name or a missing one.

One parametrised case per package (STYLE.md: one public-API test per package); the packages
with heavier contracts of their own (``dp``, ``secagg.paillier``, ``audit``) also keep theirs.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import fedseal

PACKAGES = (
    "audit", "bench", "client", "config", "demo", "deploy", "dp", "protocol", "scaffold",
    "secagg", "server", "simulation",
)  # fmt: skip


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(f"fedseal.{package}")
    found = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"fedseal.{package}."):
        if "._pb" in info.name or info.name.endswith("__main__"):
            continue
        found.append(importlib.import_module(info.name))
    return found


def test_every_package_is_listed() -> None:
    here = {m.name for m in pkgutil.iter_modules(fedseal.__path__) if m.ispkg}
    assert here == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve_and_are_documented(package: str) -> None:
    for module in _modules(package):
        assert module.__doc__ and module.__doc__.strip(), f"{module.__name__} has no docstring"
        names = getattr(module, "__all__", None)
        if names is None:
            continue
        assert len(set(names)) == len(names), f"{module.__name__}.__all__ repeats a name"
        for name in names:
            assert not name.startswith("_"), f"{module.__name__} exports private {name}"
            value = getattr(module, name)  # AttributeError: __all__ names something missing
            if inspect.isclass(value) or inspect.isfunction(value):
                doc = inspect.getdoc(value)
                assert doc and doc.strip(), f"{module.__name__}.{name} has no docstring"
