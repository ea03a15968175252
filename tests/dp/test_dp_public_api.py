"""The public API of fedseal.dp: ``__all__`` is complete and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import fedseal.dp


def test_all_names_resolve() -> None:
    for name in fedseal.dp.__all__:
        assert getattr(fedseal.dp, name) is not None
    assert sorted(dir(fedseal.dp)) == sorted(fedseal.dp.__all__)


def test_import_does_not_load_torch_opacus_or_grpc() -> None:
    code = (
        "import sys, fedseal.dp, fedseal.dp.cli, fedseal.dp.config, fedseal.dp.ledger;"
        "bad = [m for m in ('torch', 'opacus', 'matplotlib', 'grpc', 'google.protobuf')"
        " if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_pickle_or_eval_in_sources() -> None:
    import re
    from pathlib import Path

    root = Path(fedseal.dp.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        for banned in (r"import pickle", r"(?<!\.)\beval\(", r"torch\.load", r"\bexec\("):
            assert not re.search(banned, text), (path, banned)
