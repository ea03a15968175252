"""Differential privacy on each silo (DP-SGD via Opacus), the per-silo privacy ledger and reports.

Recipes::

    from fedseal.dp import DPConfig, PrivacyLedger, PrivateTrainer, write_privacy_report

    config = DPConfig(epsilon_budget=8.0, target_epsilon=8.0, planned_rounds=10, delta=1e-5)
    ledger = PrivacyLedger.open(state_dir, silo="hospital-a", config=config)
    trainer = PrivateTrainer(lambda: torch.nn.Linear(30, 2), x, y, config=config,
                             ledger=ledger, batch_size=16, steps_per_round=20)
    weights, n, metrics = trainer.fit(weights, round_id, {})  # may raise PrivacyBudgetExceeded
    write_privacy_report(deployment_dir, out_dir)

Names are loaded lazily (PEP 562) so ``import fedseal.dp`` does not import torch or Opacus.
Training and ε accounting need the ``dp`` extra (``pip install 'fedseal[dp]'``); without it,
``PrivateTrainer`` and the accountants raise :class:`~fedseal.errors.MissingExtraError`, while
the ledger and :class:`DPConfig` still work.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.dp.config import DPConfig
    from fedseal.dp.ledger import LEDGER_FILENAME, PrivacyLedger
    from fedseal.dp.noise import SecureRandom
    from fedseal.dp.report import write_privacy_report
    from fedseal.dp.trainer import PrivateTrainer

__all__ = [
    "LEDGER_FILENAME",
    "DPConfig",
    "PrivacyLedger",
    "PrivateTrainer",
    "SecureRandom",
    "write_privacy_report",
]

_WHERE = {
    "DPConfig": "fedseal.dp.config",
    "LEDGER_FILENAME": "fedseal.dp.ledger",
    "PrivacyLedger": "fedseal.dp.ledger",
    "PrivateTrainer": "fedseal.dp.trainer",
    "SecureRandom": "fedseal.dp.noise",
    "write_privacy_report": "fedseal.dp.report",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        if name == "PrivateTrainer":
            from fedseal.extras import require

            require("dp", "torch", "opacus")
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
