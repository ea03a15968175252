"""A round's record shows "–" for metrics no silo sent, never a number (issue 11)."""

from __future__ import annotations

import json

from fedseal.server.strategy import RoundMetrics
from fedseal.server.summary import NOT_COLLECTED, RoundSummary, summary_line


def test_metrics_not_collected_are_shown_as_a_dash() -> None:
    summary = RoundSummary(3, completed=True, metrics=RoundMetrics(40, None, None))
    record = json.loads(summary_line(summary))
    assert record["loss"] == record["accuracy"] == NOT_COLLECTED == "–"
    assert record["total_weight"] == 40


def test_metrics_sent_stay_numbers() -> None:
    summary = RoundSummary(3, completed=True, metrics=RoundMetrics(40, 0.5, 0.75))
    record = summary.to_record()
    assert record["loss"] == 0.5 and record["accuracy"] == 0.75
