"""Helpers the audit CLI tests share: run ``fedseal audit ...`` in-process, a stepping clock."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from fedseal.audit.cli import register
from fedseal.errors import FedsealError


def run(*argv: str) -> int:
    """``fedseal audit ARGV`` in this process: its exit status (2 for a FedsealError)."""
    parser = argparse.ArgumentParser(prog="fedseal")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    try:
        status: int = args.handler(args)
    except FedsealError:
        return 2
    return status


class Clock:
    """Fixed start; each reading is ``step`` later than the last (default one minute)."""

    def __init__(self, step: timedelta = timedelta(minutes=1)) -> None:
        self.now = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now
