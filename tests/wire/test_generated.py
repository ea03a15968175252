"""The committed protobuf code is exactly what proto/generate.py makes from proto/ today."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "src" / "fedseal" / "protocol" / "wire" / "_pb"

pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools (a dev dependency) regenerates")


def _generate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_fedseal_proto_generate", ROOT / "proto/generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerated_code_equals_the_committed_code(tmp_path: Path) -> None:
    generate = _generate_module()
    written = generate.generate(tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in written}
    committed = {
        p.relative_to(COMMITTED).as_posix(): p.read_bytes()
        for p in generate.generated_files(COMMITTED)
    }
    assert sorted(fresh) == ["fedseal/v1/fedseal_pb2.py", "fedseal/v1/fedseal_pb2.pyi"]
    assert sorted(committed) == sorted(fresh)
    for name, data in fresh.items():
        assert committed[name] == data, f"{name} is stale: run `python proto/generate.py`"


def test_no_grpc_stubs_and_every_package_has_an_init() -> None:
    assert not list(COMMITTED.rglob("*_pb2_grpc.py"))
    for directory in (COMMITTED, COMMITTED / "fedseal", COMMITTED / "fedseal" / "v1"):
        assert (directory / "__init__.py").is_file()


def test_generated_module_imports_inside_the_package() -> None:
    from fedseal.protocol.wire._pb.fedseal.v1 import fedseal_pb2

    assert fedseal_pb2.DESCRIPTOR.package == "fedseal.v1"
    assert fedseal_pb2.DESCRIPTOR.services_by_name["Coordinator"].methods_by_name["Connect"]


def test_fix_imports_points_sibling_imports_into_the_package() -> None:
    fix = _generate_module().fix_imports
    text = (
        "from fedseal.v1 import common_pb2 as x\n"
        "import fedseal.v1.common_pb2\n"
        "from fedseal.v10 import y\n"
    )
    assert fix(text) == (
        "from fedseal.protocol.wire._pb.fedseal.v1 import common_pb2 as x\n"
        "import fedseal.protocol.wire._pb.fedseal.v1.common_pb2\n"
        "from fedseal.v10 import y\n"
    )
