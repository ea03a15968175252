from __future__ import annotations

import subprocess
import sys

import fedseal.secagg.paillier as api


def test_all_is_complete_and_resolves() -> None:
    public = {name for name in dir(api) if not name.startswith("_")}
    modules = {
        "ciphertext",
        "dealer",
        "encrypt",
        "keys",
        "packing",
        "plaintext_proof",
        "proofs",
        "threshold",
    }
    helpers = {"annotations", "Any", "npt", "DecodedSum", "QuantizationSpec"}
    assert set(api.__all__) == public - modules - helpers
    for name in api.__all__:
        assert getattr(api, name) is not None


def test_no_grpc_or_protobuf_imported() -> None:
    # pickle itself is imported by numpy; our own code never uses it (test_architecture).
    code = (
        "import sys, fedseal.secagg.paillier; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('grpc', 'google')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
