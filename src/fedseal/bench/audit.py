"""Audit log: durable and batched append throughput, and verify time for N entries.

Appends typical small events to a log in a temporary directory (``--dir``; put it on the disk
the real logs use, since fsync cost is the disk's), with a signed checkpoint every
``--checkpoint-every`` entries, then times a full ``verify`` (chain, canonical form, Merkle
roots, signatures). Target: ``verify_seconds`` <= 5 for 100,000 entries on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

__all__ = ["add_arguments", "run"]


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
    parser.add_argument("--dir", default=None, help="directory for the temporary logs")


def _details(i: int) -> dict[str, Any]:
    return {"silo": f"silo-{i % 8}", "count": i % 97, "stage": "share_keys"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    from fedseal.audit import AuditLog, events, verify_log
    from fedseal.bench.common import machine_info, peak_rss_mb
    from fedseal.secagg.identity import IdentityKey

    for name in ("entries", "durable_entries", "batch_size", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    key = IdentityKey.generate()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fedseal-bench-audit-") as tmp:
        durable_path = os.path.join(tmp, "durable.jsonl")
        with AuditLog(durable_path, party="server", identity=key) as log:
            start = time.perf_counter()
            for i in range(args.durable_entries):
                log.append(events.SHARES_ROUTED, round=i // 100, details=_details(i))
            durable = time.perf_counter() - start

        path = os.path.join(tmp, "batched.jsonl")
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
                            log.checkpoint(round=appended // 100)
            batched = time.perf_counter() - start
            size = log.size
        file_mb = os.path.getsize(path) / 2**20

        start = time.perf_counter()
        report = verify_log(path, key=key.public_key)
        verify_seconds = time.perf_counter() - start
        if not report.ok:
            raise RuntimeError(f"benchmark log did not verify: {report.summary()}")
    return {
        "entries": size,
        "checkpoints": report.checkpoints,
        "append_per_second_durable": args.durable_entries / durable,
        "append_per_second_batched": args.entries / batched,
        "batch_size": args.batch_size,
        "verify_seconds": verify_seconds,
        "verify_target_met": verify_seconds <= 5.0,
        "log_mb": file_mb,
        "peak_rss_mb": peak_rss_mb(),
        **machine_info(),
    }
