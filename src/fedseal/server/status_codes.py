"""Which gRPC status ends a silo's stream, chosen by the class of the error (never its text).

:data:`STATUS_CODES` is the table the transport (:mod:`fedseal.server.grpc_server`) consults
when reading a silo's messages raised; :func:`status_for` walks it.
"""

from __future__ import annotations

import grpc

from fedseal.errors import MessageTooLarge, ProtocolViolation

__all__ = ["STATUS_CODES", "status_for"]

#: Exception class -> the status that ends a silo's stream when reading its messages raised it.
#: Walked in order with ``isinstance``, so a subclass must come before its base class.
STATUS_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (MessageTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ProtocolViolation, grpc.StatusCode.INVALID_ARGUMENT),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),  # no Hello in time
)


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status that answers ``exc``, by its class (never by its message text).

    Parameters
    ----------
    exc : BaseException
        The error raised while reading a silo's stream.

    Returns
    -------
    grpc.StatusCode
        The code of the first :data:`STATUS_CODES` row whose class ``exc`` is an instance of,
        else ``INTERNAL``.
    """
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    # INTERNAL, not INVALID_ARGUMENT: an exception no row names was not diagnosed as the peer's
    # fault (every peer fault is a ProtocolViolation), so blaming the silo's input would mislead.
    return grpc.StatusCode.INTERNAL
