"""Tamper-evident audit log: hash chain, RFC 6962 Merkle tree, signed and co-signed checkpoints.

Recipes (this module) on top; :mod:`fedseal.audit.merkle` and :mod:`fedseal.audit.canonical`
hold the primitives. The byte-level format is specified in ``docs/audit-format.md``.

Examples
--------
>>> log = AuditLog(path, party="server", identity=server_key)      # doctest: +SKIP
>>> log.append(events.ROUND_STARTED, round=1, details={"n": 5, "t": 3})  # doctest: +SKIP
>>> cp = log.checkpoint(round=1)                                     # doctest: +SKIP
>>> cosig = cp.cosign(silo_key, server_key=server_key.public_key)    # on the silo # doctest: +SKIP
>>> witness_store.add(cp)                                            # on the silo # doctest: +SKIP
>>> log.record_cosignature(cp, silo_key.public_key, cosig)           # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.audit import events
    from fedseal.audit.checkpoint import Checkpoint
    from fedseal.audit.entry import Entry
    from fedseal.audit.log import AuditLog
    from fedseal.audit.repair import RepairResult, repair_log
    from fedseal.audit.verify import Problem, VerifyReport, verify_log
    from fedseal.audit.witness import WitnessStore, load_checkpoints

# Public name -> defining module. Imported on first use (PEP 562), so that
# ``import fedseal.audit.cli`` stays light (no PyNaCl) for ``fedseal --help``.
_EXPORTS = {
    "AuditLog": "fedseal.audit.log",
    "Checkpoint": "fedseal.audit.checkpoint",
    "Entry": "fedseal.audit.entry",
    "Problem": "fedseal.audit.verify",
    "RepairResult": "fedseal.audit.repair",
    "VerifyReport": "fedseal.audit.verify",
    "WitnessStore": "fedseal.audit.witness",
    "events": "fedseal.audit.events",
    "load_checkpoints": "fedseal.audit.witness",
    "repair_log": "fedseal.audit.repair",
    "verify_log": "fedseal.audit.verify",
}

__all__ = [
    "AuditLog",
    "Checkpoint",
    "Entry",
    "Problem",
    "RepairResult",
    "VerifyReport",
    "WitnessStore",
    "events",
    "load_checkpoints",
    "repair_log",
    "verify_log",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fedseal.audit' has no attribute {name!r}")
    if name == "events":
        return importlib.import_module(module)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
