"""The end of ``fedseal demo``: verify the audit logs, write the privacy report and summary.json.

Also computes the reference the secure run is compared with: plaintext FedAvg with the same
data split, local training and rounds, in this process and without DP or quantization (the
accuracy a peer framework without any protection would reach).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fedseal.audit.verify import verify_log
from fedseal.audit.witness import load_checkpoints
from fedseal.demo.app import DIM
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.simulation.data import load_hospitals
from fedseal.simulation.logreg import gradient_descent, loss_and_accuracy

__all__ = ["finish_demo", "plaintext_reference"]


def plaintext_reference(n_silos: int, rounds: int) -> float:
    """Test accuracy of unprotected FedAvg (no SecAgg, no DP) on the demo's split."""
    silos, (x_test, y_test) = load_hospitals(n_silos)
    w = np.zeros(DIM)
    for _ in range(rounds):
        total = sum(len(y) * (gradient_descent(w, x, y) - w) for x, y in silos)
        w = w + total / sum(len(y) for _, y in silos)
    return loss_and_accuracy(w, x_test, y_test)[1]


def _verify_audit(out: Path, names: list[str]) -> dict[str, str]:
    """``fedseal audit verify`` of every party's log, with pinned keys and co-signed witnesses."""
    from fedseal.config import load_server_config, load_silo_config

    server = load_server_config(out / "server" / "server.toml")
    witnessed = []
    results: dict[str, str] = {}
    server_key = None
    for name in names:
        silo = load_silo_config(out / "silos" / name / "silo.toml")
        server_key = IdentityPublicKey(bytes.fromhex(silo.server_identity))
        store = silo.state_dir / "witnessed-checkpoints.jsonl"
        if store.exists():
            witnessed += load_checkpoints(store)
        key = IdentityPublicKey(bytes.fromhex(silo.identities[name]))
        results[name] = verify_log(silo.audit_log, key=key).summary()
    results["server"] = verify_log(server.audit_log, key=server_key, witnesses=witnessed).summary()
    return results


def finish_demo(
    out: Path,
    names: list[str],
    rows: list[dict[str, Any]],
    x_test: Any,
    y_test: Any,
    opts: Any,
    seconds: float,
) -> dict[str, Any]:
    """Verify, report and write ``out/summary.json``; returns the summary."""
    weights = np.load(out / "server" / "state" / "model.npy", allow_pickle=False)
    _, accuracy = loss_and_accuracy(weights, x_test, y_test)
    reference = plaintext_reference(len(names), opts.rounds)
    audit = _verify_audit(out, names)
    epsilon: dict[str, float] = {}
    if opts.dp:
        from fedseal.dp.report import write_privacy_report

        json_path, _ = write_privacy_report(out, out)
        report = json.loads(json_path.read_text())
        epsilon = {s["silo"]: s["epsilon"] for s in report["silos"]}
    summary = {
        "rounds_completed": sum(1 for r in rows if r["completed"]),
        "rounds": rows,
        "final_accuracy": accuracy,
        "plaintext_fedavg_accuracy": reference,
        "aggregation": opts.aggregation,
        "dp": opts.dp,
        "epsilon": epsilon,
        "dropouts": [
            {"round": r["round"], "silo": d["silo"], "stage": d["stage"], "reason": d["reason"]}
            for r in rows
            for d in r["dropouts"]
        ],
        "audit": audit,
        "model": [float(v) for v in weights],
        "seconds": round(seconds, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print(
        f"final test accuracy {accuracy:.4f}  "
        f"(plaintext FedAvg without protection: {reference:.4f})"
    )
    for silo, eps in sorted(epsilon.items()):
        print(f"  {silo}: ε = {eps:.3f}")
    for party, line in audit.items():
        print(f"  audit {party}: {line}")
    print(f"summary: {out / 'summary.json'}  ({seconds:.1f} s)")
    return summary
