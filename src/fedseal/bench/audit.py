"""Audit log: append throughput, verify time with every check on, and report time.

Default mode: appends typical small events to a log in a temporary directory (``--dir``; put
it on the disk the real logs use, since fsync cost is the disk's), with a signed checkpoint
every ``--checkpoint-every`` entries, each co-signed by ``--silos`` roster silos that also keep
it in a witness store, then times a full verification as ``fedseal audit verify --deployment
--strict`` does it: canonical form, chain, Merkle roots, signatures under the pinned key,
co-signatures against the roster, the quorum (the deployment's threshold ``t``) and every
witness store. ``--silos 0`` times the bare check (no roster, quorum or witnesses).
Target: ``verify_seconds`` <= 5 for 100,000 entries on a 2-core machine.

``--report``: builds a provisioned-layout deployment of ``--rounds`` rounds and ``--silos``
DP silos (server log, silo logs, both kinds of witness store) and times ``fedseal audit report
--deployment DIR --compliance`` in-process (verification of every log, the HTML report and the
compliance pack). Target: ``report_seconds`` <= 5 for 10 rounds and 5 silos.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

#: The figures' budgets (seconds), from issue 14.
VERIFY_TARGET_S = 5.0
REPORT_TARGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fedseal bench audit``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--entries", type=int, default=100_000, help="entries to verify")
    parser.add_argument(
        "--durable-entries",
        type=int,
        default=2_000,
        help="entries appended with one fsync each (fsync-bound, so fewer)",
    )
    parser.add_argument("--batch-size", type=int, default=1_000, help="entries per fsync")
    parser.add_argument("--checkpoint-every", type=int, default=1_000)
    parser.add_argument(
        "--silos",
        type=int,
        default=5,
        help="roster silos co-signing each checkpoint (0: verify without roster/quorum/witnesses)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="time `fedseal audit report --deployment --compliance` instead (see --rounds)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the --report deployment")
    parser.add_argument("--dir", default=None, help="directory for the temporary logs")


def _details(i: int) -> dict[str, Any]:
    return {"silo": f"silo-{i % 8}", "count": i % 97, "stage": "share_keys"}


def _silo_keys(n: int) -> dict[str, Any]:
    from fedseal.secagg.identity import IdentityKey

    return {f"silo-{i}": IdentityKey(bytes([i + 1]) * 32) for i in range(n)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    from fedseal.bench.common import machine_info, peak_rss_mb

    for name in ("entries", "durable_entries", "batch_size", "checkpoint_every", "rounds"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.silos < 0 or (args.report and args.silos < 1):
        raise ValueError("--silos must be >= 0 (>= 1 with --report)")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fedseal-bench-audit-") as tmp:
        figures = _report(args, Path(tmp)) if args.report else _verify(args, Path(tmp))
    load = [round(x, 2) for x in os.getloadavg()]
    return {**figures, "load_average": load, "peak_rss_mb": peak_rss_mb(), **machine_info()}


def _verify(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from fedseal.audit import AuditLog, WitnessStore, events, verify_log
    from fedseal.audit.roster import default_quorum
    from fedseal.audit.witness import read_witnesses
    from fedseal.secagg.identity import IdentityKey

    key, silos = IdentityKey.generate(), _silo_keys(args.silos)
    stores = {name: WitnessStore(tmp / f"witness-{name}.jsonl") for name in silos}
    with AuditLog(tmp / "durable.jsonl", party="server", identity=key) as log:
        start = time.perf_counter()
        for i in range(args.durable_entries):
            log.append(events.SHARES_ROUTED, round=i // 100, details=_details(i))
        durable = time.perf_counter() - start

    path = tmp / "batched.jsonl"
    with AuditLog(path, party="server", identity=key) as log:
        start = time.perf_counter()
        appended = 0
        while appended < args.entries:
            with log.batch():
                for _ in range(min(args.batch_size, args.entries - appended)):
                    log.append(
                        events.SHARES_ROUTED, round=appended // 100, details=_details(appended)
                    )
                    appended += 1
                    if appended % args.checkpoint_every == 0:
                        cp = log.checkpoint(round=appended // 100)
                        for name, silo in silos.items():
                            cosig = cp.cosign(silo, server_key=key.public_key)
                            stores[name].add(cp)
                            log.record_cosignature(cp, silo.public_key, cosig)
        batched = time.perf_counter() - start
        size = log.size
    roster = {name: silo.public_key for name, silo in silos.items()} or None
    quorum = default_quorum(len(silos)) if silos else None

    start = time.perf_counter()
    witnesses = [w for s in stores.values() if s.path.exists() for w in read_witnesses(s.path)[0]]
    report = verify_log(
        path, key=key.public_key, witnesses=witnesses, roster=roster, quorum=quorum, strict=True
    )
    verify_seconds = time.perf_counter() - start
    # A log shorter than the checkpoint interval has no checkpoint: its one warning is that.
    if not report.ok or (report.warnings and report.checkpoints):
        raise RuntimeError(f"benchmark log did not verify cleanly: {report.summary()}")
    return {
        "entries": size,
        "checkpoints": report.checkpoints,
        "cosignatures": report.cosignatures,
        "witnessed_checkpoints": len(witnesses),
        "roster_silos": len(silos),
        "quorum": quorum,
        "append_per_second_durable": args.durable_entries / durable,
        "append_per_second_batched": args.entries / batched,
        "batch_size": args.batch_size,
        "verify_seconds": verify_seconds,
        "verify_target_met": verify_seconds <= VERIFY_TARGET_S,
        "log_mb": path.stat().st_size / 2**20,
    }


def _report(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from fedseal.cli import main

    root = tmp / "deployment"
    _deployment(root, rounds=args.rounds, silos=args.silos)
    argv = ["audit", "report", "--deployment", str(root), "--out", str(tmp / "report")]
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*argv, "--compliance"])
    report_seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(
            f"report of the benchmark deployment failed ({status}): {err.getvalue()}"
        )
    logs = sorted(root.rglob("audit.jsonl"))
    return {
        "rounds": args.rounds,
        "silos": args.silos,
        "logs": len(logs),
        "entries": sum(p.read_bytes().count(b"\n") for p in logs),
        "report_seconds": report_seconds,
        "report_target_met": report_seconds <= REPORT_TARGET_S,
        "report_html_kb": sum(p.stat().st_size for p in (tmp / "report").iterdir()) / 1024,
    }


def _deployment(root: Path, *, rounds: int, silos: int) -> None:
    """A ``fedseal provision`` layout with logs of ``rounds`` released DP rounds."""
    from fedseal.audit import AuditLog, WitnessStore, events
    from fedseal.secagg.identity import IdentityKey

    server, keys = IdentityKey(bytes(range(32))), _silo_keys(silos)
    names, hexkey = sorted(keys), server.public_key.to_bytes().hex()
    (root / "server" / "state" / "silo-witness").mkdir(parents=True)
    ids = "".join(f'"{n}" = "{k.public_key.to_bytes().hex()}"\n' for n, k in keys.items())
    (root / "server" / "server.toml").write_text(
        f'deployment_id = "bench"\nsilos = {names!r}\naudit_log = "audit.jsonl"\n'
        'state_dir = "state"\naggregation = "masking"\nrevoked = []\n\n[processing]\n'
        'controller = "Bench consortium"\npurposes = ["benchmark"]\n\n'
        f"[identities]\n{ids}"
    )
    silo_logs, stores = {}, {}
    for n, k in keys.items():
        folder = root / "silos" / n
        (folder / "state").mkdir(parents=True)
        (folder / "silo.toml").write_text(
            f'silo = "{n}"\nserver_identity = "{hexkey}"\nstate_dir = "state"\n'
            'audit_log = "audit.jsonl"\n\n[dp]\nenabled = true\nepsilon_budget = 8.0\n'
        )
        stores[n] = WitnessStore(folder / "state" / "witnessed-checkpoints.jsonl")
        silo_logs[n] = AuditLog(folder / "audit.jsonl", party=n, identity=k)
        silo_logs[n].append(events.PARTY_STARTED, details={"role": "silo", "silo": n})
        plan = {"silo": n, "rounds_affordable": rounds, "epsilon_budget": 8.0, "delta": 1e-05}
        silo_logs[n].append(events.DP_PLAN, details=plan)
    with AuditLog(root / "server" / "audit.jsonl", party="server", identity=server) as log:
        log.append(events.PARTY_STARTED, details={"role": "server", "silos": names})
        for n in names:
            log.append(events.PARTY_AUTHENTICATED, details={"peer": n, "peer_fingerprint": "ab"})
        for rnd in range(1, rounds + 1):
            log.append(events.ROUND_STARTED, round=rnd, details={"participants": names, "t": 3})
            for event in (events.KEYS_ADVERTISED, events.SHARES_ROUTED, events.UNMASK_ANSWERED):
                for n in names:
                    log.append(event, round=rnd, details={"silo": n, "count": len(names)})
            log.append(events.CONSISTENCY_RESULT, round=rnd, details={"survivors": names})
            digests = {"aggregate_sha256": "ab" * 32, "model_sha256": "cd" * 32}
            log.append(events.AGGREGATE_RELEASED, round=rnd, details=digests)
            log.append(events.ROUND_FINISHED, round=rnd, details={"participants": names})
            cp = log.checkpoint(round=rnd)
            for n, k in keys.items():
                stores[n].add(cp)
                log.record_cosignature(cp, k.public_key, cp.cosign(k, server_key=server.public_key))
                spent = {"silo": n, "epsilon": 0.5, "delta": 1e-05, "epsilon_total": 0.5 * rnd}
                silo_logs[n].append(events.ROUND_STARTED, round=rnd, details={"silo": n})
                silo_logs[n].append(events.DP_EPSILON_SPENT, round=rnd, details=spent)
                own = silo_logs[n].checkpoint(round=rnd)
                WitnessStore(root / "server" / "state" / "silo-witness" / f"{n}.jsonl").add(own)
    for silo_log in silo_logs.values():
        silo_log.close()
