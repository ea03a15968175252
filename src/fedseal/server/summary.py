"""What one round did, as the server knows it: :class:`RoundSummary` and its one-line record.

Names, counts and metrics only: a summary never holds an update, a mask or a share. Each line
of ``rounds.jsonl`` and the demo's ``summary.json`` rounds come from :func:`summary_line`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fedseal.server.strategy import RoundMetrics

__all__ = ["NOT_COLLECTED", "RoundSummary", "summary_line"]

#: Shown in round records for a metric no silo sent (silos under DP send none).
NOT_COLLECTED = "–"


@dataclass
class RoundSummary:
    """What one round did, as the server knows it (names, counts and metrics only)."""

    round_id: int
    participants: tuple[str, ...] = ()
    ready: tuple[str, ...] = ()
    survivors: tuple[str, ...] = ()
    dropouts: list[dict[str, str]] = field(default_factory=list)
    completed: bool = False
    reason: str | None = None
    metrics: RoundMetrics | None = None
    seconds: float = 0.0
    train_digest: bytes = b""  # of the round's TrainRequest; bound into the silos' signatures

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record (for ``rounds.jsonl`` and the demo's summary)."""
        record: dict[str, Any] = {
            "round": self.round_id,
            "participants": list(self.participants),
            "ready": list(self.ready),
            "survivors": list(self.survivors),
            "dropouts": self.dropouts,
            "completed": self.completed,
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
        }
        if self.metrics is not None:
            # "–" where no silo sent metrics (silos under DP send none), never a number.
            record.update(
                total_weight=self.metrics.total_weight,
                loss=NOT_COLLECTED if self.metrics.loss is None else self.metrics.loss,
                accuracy=NOT_COLLECTED if self.metrics.accuracy is None else self.metrics.accuracy,
            )
        return record


def summary_line(summary: RoundSummary) -> str:
    """The summary as one JSON line."""
    return json.dumps(summary.to_record(), sort_keys=True)
