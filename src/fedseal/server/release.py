"""The release of one round's aggregate: decode, integrity check, new model, audit -- in that order.

:func:`release` is what the driver does once the aggregation mode returned the summed integer
vector: :meth:`~fedseal.secagg.quantize.QuantizationSpec.decode_sum` decodes it and checks its
integrity (a sum whose weights and counts do not add up was tampered with, or a silo sent an
out-of-range contribution); the strategy moves the model; the model is staged, the release is
audited naming the new model's SHA-256, and only then is the model committed
(:mod:`fedseal.server.state`: on restart a staged model is committed only if its release is in
the log); ``round_finished`` closes the round in the log. A failed integrity check is audited
as ``aggregate_rejected`` and stops the deployment (:func:`integrity_halt`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.errors import AggregateIntegrityError
from fedseal.server.driver_config import DriverConfig
from fedseal.server.state import ServerState
from fedseal.server.strategy import Strategy
from fedseal.server.summary import RoundSummary

__all__ = ["integrity_halt", "release"]


def release(
    total: npt.NDArray[Any],
    summary: RoundSummary,
    *,
    config: DriverConfig,
    strategy: Strategy,
    state: ServerState,
    audit: Callable[..., None],
) -> None:
    """Release ``summary``'s round (see the module docstring); marks it completed.

    ``audit(event, round_id, outcome=..., **details)`` appends to the server's log.

    Raises
    ------
    AggregateIntegrityError
        If the decoded sum fails its integrity check (audited here; the model is unchanged).
    """
    round_id = summary.round_id
    try:
        decoded = config.quantization.decode_sum(
            total, dim=strategy.dim, contributors=len(summary.survivors)
        )
    except AggregateIntegrityError as exc:
        audit(
            ev.AGGREGATE_REJECTED, round_id, ev.FAILURE, reason=str(exc)[:300],
            aggregate_sha256=_sha256(total), silos_count=len(summary.survivors),
        )  # fmt: skip
        raise
    summary.metrics = strategy.aggregate(decoded)
    # The release is durable in the audit log before the model moves (state.py).
    model_sha256 = state.stage_model(strategy.weights, strategy.state())
    audit(
        ev.AGGREGATE_RELEASED, round_id, aggregate_sha256=_sha256(total),
        model_sha256=model_sha256, silos_count=len(summary.survivors),
    )  # fmt: skip
    state.commit_model()
    summary.completed = True
    audit(
        ev.ROUND_FINISHED, round_id, participants=list(summary.survivors),
        dropouts=[d["silo"] for d in summary.dropouts],
    )  # fmt: skip


def integrity_halt(round_id: int, exc: AggregateIntegrityError) -> str:
    """Why the deployment stops after a rejected aggregate.

    The sum was released, so every silo that answered will refuse this model again (no
    differencing on one model): no retry can succeed. Stop, loudly.
    """
    return (
        f"round {round_id}: the aggregate failed the integrity check ({exc}); the model "
        "was not updated and the silos will not contribute again on it. A silo sent an "
        "out-of-range contribution or the aggregate was tampered with: investigate the "
        "audit logs, revoke the silo responsible, and restart from a new model "
        "(docs/deployment.md, 'Integrity failure')"
    )


def _sha256(total: npt.NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(total).tobytes()).hexdigest()
