"""How often one identity may open a stream: a token bucket per certificate name.

Every admitted connection is audited (fsynced) and costs a ``Hello`` check, so a silo that
connects and disconnects in a loop -- a bug or an attack with a stolen certificate -- would fill
the audit log and the disk. :class:`ConnectLimiter` gives each identity ``burst`` connections,
refilled at one per ``refill_s`` seconds; a connection over the limit is refused
(``RESOURCE_EXHAUSTED``) before anything is audited. Refusals are reported once per
``window_s`` per identity, with their count, not once each (the coordinator logs the report
and audits it as ``party_authenticated`` with outcome ``refused``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fedseal.errors import ConfigError

__all__ = ["ConnectLimiter"]

#: Identities tracked at most; past it, those whose bucket is full again are forgotten.
_MAX_TRACKED = 4096


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    refused: int = 0  # refusals not reported yet
    reported: float | None = None  # when the last report was made


class ConnectLimiter:
    """A token bucket per identity (see the module docstring).

    Parameters
    ----------
    burst : int
        Connections an identity may open at once (>= 1).
    refill_s : float
        Seconds to earn one more (> 0).
    window_s : float
        At most one report of refusals per identity per this many seconds.
    clock : callable
        Monotonic seconds (injected for tests).
    """

    def __init__(
        self,
        *,
        burst: int,
        refill_s: float,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1:
            raise ConfigError(f"connect_burst must be >= 1, got {burst}")
        if refill_s <= 0:
            raise ConfigError(f"connect_refill_s must be > 0, got {refill_s}")
        self.burst, self.refill_s, self.window_s = burst, refill_s, window_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, identity: str) -> bool:
        """Take one connection of ``identity`` from its bucket; False: refuse it."""
        now = self._clock()
        bucket = self._buckets.get(identity)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[identity] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) / self.refill_s)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        bucket.refused += 1
        return False

    def report(self, identity: str) -> str | None:
        """A line summing up ``identity``'s refusals, at most once per ``window_s`` (else None)."""
        bucket = self._buckets.get(identity)
        now = self._clock()
        if bucket is None or not bucket.refused:
            return None
        if bucket.reported is not None and now - bucket.reported < self.window_s:
            return None
        since = "" if bucket.reported is None else f" in the last {now - bucket.reported:.0f} s"
        line = (
            f"refused {bucket.refused} connection(s) of {identity}{since}: more than "
            f"{self.burst} at once or one per {self.refill_s:g} s (connect_burst, "
            "connect_refill_s in server.toml); is it restarting in a loop?"
        )
        bucket.refused, bucket.reported = 0, now
        return line

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < _MAX_TRACKED:
            return
        full = now - self.burst * self.refill_s
        for name in [n for n, b in self._buckets.items() if b.stamp <= full and not b.refused]:
            del self._buckets[name]
        if len(self._buckets) >= _MAX_TRACKED:  # all busy: forget the oldest half
            for name in sorted(self._buckets, key=lambda n: self._buckets[n].stamp)[
                : _MAX_TRACKED // 2
            ]:
                del self._buckets[name]
