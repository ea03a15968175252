"""Sans-IO protocol sessions of secure aggregation (Bonawitz et al. 2017; Bell et al. 2020).

``ClientSession`` (a silo) and ``ServerSession`` (the coordinator) take messages and return
messages; they never do I/O, read a clock or use a global RNG. ``wire`` converts messages to
and from protobuf and is the only place that imports it.
"""

from __future__ import annotations

from fedseal.protocol.client import ClientPolicy, ClientSession, ClientStage
from fedseal.protocol.server import Dropout, ServerSession, ServerStage

__all__ = [
    "ClientPolicy",
    "ClientSession",
    "ClientStage",
    "Dropout",
    "ServerSession",
    "ServerStage",
]
