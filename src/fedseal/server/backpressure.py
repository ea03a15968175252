"""A bound on the bytes of large messages the coordinator rebuilds at once, across all streams.

When a round's silos all send their masked inputs together, every stream's reassembler would
fill at the same time: ``n`` messages of ``8 d`` bytes each, plus the copies made to join and
decode them, so the server's memory grew as ``O(n d)`` although the aggregate is one vector.
The transport instead takes a share of :class:`ByteBudget` when the first frame of a large
message arrives and gives it back once the driver has taken the decoded message from its queue
(and so added it into the aggregate: :meth:`ByteBudget.releaser` is called then); a decoded
message waiting in the driver's queue still counts. A stream that cannot get its share is not
read until another message is done, so gRPC's flow control makes its silo wait. Memory is then
``O(budget)`` plus a frame per waiting stream, whatever ``n``; the silos' bytes arrive as fast
as the server can add them into the aggregate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from fedseal.errors import ConfigError

__all__ = ["ByteBudget"]


class ByteBudget:
    """Bytes of large messages being rebuilt at once (see the module docstring).

    Streams are served in the order they asked (first come, first served), so a large message
    is not overtaken forever by smaller ones.

    Parameters
    ----------
    limit : int
        Bytes shared by all streams; a message larger than ``limit`` takes all of it.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ConfigError(f"the reassembly budget must be >= 1 byte, got {limit}")
        self.limit = limit
        self._free = limit
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def free(self) -> int:
        """Bytes not taken."""
        return self._free

    async def take(self, size: int) -> int:
        """Wait until ``min(size, limit)`` bytes are free and take them; returns the amount."""
        amount = min(size, self.limit)
        if not self._waiting and self._free >= amount:
            self._free -= amount
            return amount
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append((amount, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted as it was cancelled
                self.give(amount)
            elif (amount, turn) in self._waiting:
                self._waiting.remove((amount, turn))
                self._grant()
            raise
        return amount

    def give(self, amount: int) -> None:
        """Return ``amount`` bytes taken by :meth:`take` (never blocks)."""
        self._free += amount
        self._grant()

    def releaser(self, amount: int) -> Callable[[], None]:
        """A call that gives back ``amount`` bytes the first time it runs; later calls do nothing.

        The transport hands it to the driver with a decoded message, so the bytes return when
        the message leaves the driver's queue rather than when the transport let go of it.
        """
        pending = [amount]

        def release() -> None:
            if pending:
                self.give(pending.pop())

        return release

    def _grant(self) -> None:
        while self._waiting and self._free >= self._waiting[0][0]:
            amount, turn = self._waiting.popleft()
            if turn.done():  # its task was cancelled while it waited
                continue
            self._free -= amount
            turn.set_result(None)
