"""What a round is, in data: the driver's settings, a round's summary, and a silo's link.

Shared by :mod:`fedseal.server.driver` and the transports; no I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.secagg.graph import FULL_GRAPH_MAX
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.strategy import RoundMetrics

__all__ = ["NOT_COLLECTED", "DriverConfig", "Link", "RoundSummary", "summary_line"]

#: Shown in round records for a metric no silo sent (silos under DP send none).
NOT_COLLECTED = "–"


class Link(Protocol):
    """The transport's handle on one connected silo."""

    def send(self, message: c.ToSilo) -> None:
        """Queue ``message`` for the silo (never blocks)."""

    def close(self, reason: str) -> None:
        """End the connection."""


@dataclass(frozen=True, kw_only=True)
class DriverConfig:
    """What the driver needs from the server's configuration (all validated by the loader).

    :func:`fedseal.server.app.driver_config` fills every field from ``server.toml``; the
    defaults here serve tests and the in-process simulation.
    """

    deployment_id: str
    rounds: int
    min_silos: int
    aggregation: str
    quantization: QuantizationSpec
    train_timeout_s: float
    stage_timeout_s: float
    connect_timeout_s: float
    checkpoint_timeout_s: float = 10.0
    corruption: float = 0.05
    dropout: float = 0.1
    full_graph_max: int = FULL_GRAPH_MAX
    #: ``N``, every provisioned silo (revoked ones included, as in each silo's own roster);
    #: 0 means the size of the driver's directory.
    roster_size: int = 0

    def __post_init__(self) -> None:
        if self.aggregation not in c.AGGREGATION_MODES:
            raise ConfigError(f"aggregation must be one of {c.AGGREGATION_MODES}")
        if self.rounds < 1 or self.min_silos < 2:
            raise ConfigError("rounds must be >= 1 and min_silos >= 2")
        if self.full_graph_max < 0:
            raise ConfigError(f"full_graph_max must be >= 0, got {self.full_graph_max}")


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
