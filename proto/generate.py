"""Regenerate fedseal's protobuf Python code from ``proto/`` (DESIGN.md §6).

Usage, from the repository root::

    .venv/bin/python proto/generate.py

This runs, for every ``.proto`` file under ``proto/``::

    python -m grpc_tools.protoc -Iproto \\
        --python_out=src/fedseal/protocol/wire/_pb --pyi_out=src/fedseal/protocol/wire/_pb \\
        fedseal/v1/fedseal.proto

With ``-Iproto`` the module for ``proto/fedseal/v1/fedseal.proto`` is ``fedseal/v1/fedseal_pb2.py``;
written under ``_pb/`` it imports as ``fedseal.protocol.wire._pb.fedseal.v1.fedseal_pb2`` (the
``__init__.py`` files of ``_pb/``, ``_pb/fedseal/`` and ``_pb/fedseal/v1/`` are committed by
hand). No ``_pb2_grpc.py`` is generated: the transport registers a generic handler with
``serde``'s own serializers, so gRPC stubs are not needed.

A generated module that imports another one of ours would say ``from fedseal.v1 import ...``,
which would resolve to the wrong package; :func:`fix_imports` rewrites such lines to the
``fedseal.protocol.wire._pb.fedseal.v1`` path. (Today there is a single ``.proto`` with no
imports, so the rewrite changes nothing.)

The output depends only on the ``.proto`` files and on the ``grpcio-tools`` version, which
``pyproject.toml`` pins exactly; ``tests/wire/test_generated.py`` regenerates into a temporary
directory and fails if the committed files differ.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_DIR = ROOT / "src" / "fedseal" / "protocol" / "wire" / "_pb"
PACKAGE = "fedseal.protocol.wire._pb"

_IMPORT = re.compile(r"^(from|import) fedseal\.v1(\b)", re.MULTILINE)


def proto_files() -> list[str]:
    """The ``.proto`` files under ``proto/``, relative to it, sorted."""
    return sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))


def generated_files(out_dir: Path) -> list[Path]:
    """The ``_pb2.py`` and ``_pb2.pyi`` files under ``out_dir``, sorted."""
    return sorted(p for p in out_dir.rglob("*_pb2.py*") if p.suffix in (".py", ".pyi"))


def fix_imports(text: str) -> str:
    """Point imports of sibling generated modules into :data:`PACKAGE`."""
    return _IMPORT.sub(rf"\1 {PACKAGE}.fedseal.v1\2", text)


def generate(out_dir: Path = OUT_DIR) -> list[Path]:
    """Run protoc on every ``.proto`` file, writing into ``out_dir``; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *proto_files(),
    ]
    subprocess.run(command, check=True, cwd=PROTO_ROOT)  # noqa: S603 (fixed argv, no shell)
    written = generated_files(out_dir)
    for path in written:
        path.write_text(fix_imports(path.read_text()))
    return written


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT))
