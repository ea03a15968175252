"""The one exception tree of fedseal, split by who is to blame.

``ConfigError``
    The local caller misused the API or gave a bad parameter. Fix the call.
``ProtocolViolation``
    A peer (the server, or another silo) sent something the protocol forbids.
    The session that raised it is now in a terminal state.
``MessageTooLarge``
    A ``ProtocolViolation``: a peer sent a message larger than the configured limit
    (``TransportLimits.max_message_bytes``).
``AggregateIntegrityError``
    A decoded aggregate is impossible for honest inputs (a coordinate beyond the clip range,
    or more total weight than the contributors can carry): a silo or the server cheated.
``RoundAbortedError``
    The round cannot finish safely (for example fewer than ``t`` silos are left);
    nothing secret has been released.
``AuthenticationError``
    A signature or an authenticated ciphertext did not verify. Deliberately opaque:
    it never says *which* check failed (compare pyca/cryptography's ``InvalidToken``).
``PrivacyBudgetExceeded``
    Training would push a silo past its epsilon budget.
``AuditIntegrityError``
    An audit log or checkpoint does not verify.
``MissingExtraError``
    The call needs an optional dependency group (an "extra", e.g. ``dp``) that is not
    installed. It is also an ``ImportError``; its message names the ``pip install`` to run.
"""

from __future__ import annotations

__all__ = [
    "AggregateIntegrityError",
    "AuditIntegrityError",
    "AuthenticationError",
    "ConfigError",
    "FedsealError",
    "MessageTooLarge",
    "MissingExtraError",
    "PrivacyBudgetExceeded",
    "ProtocolViolation",
    "RoundAbortedError",
]


class FedsealError(Exception):
    """Base class of every error fedseal raises on purpose."""


class ConfigError(FedsealError, ValueError):
    """Local misuse: a bad parameter, a bad config value, a call in the wrong state."""


class ProtocolViolation(FedsealError):
    """A peer deviated from the protocol (bad round id, wrong stage, malformed vector, ...)."""


class MessageTooLarge(ProtocolViolation):
    """A peer sent a message larger than the configured limit (``max_message_bytes``).

    Raised by :class:`~fedseal.protocol.wire.framing.Reassembler` as soon as a message being
    reassembled would, or is announced to, exceed the limit, before the offending chunk is kept.
    It is a :class:`ProtocolViolation` (the peer is to blame and the stream is over), kept apart
    so that the transport can answer it with gRPC ``RESOURCE_EXHAUSTED`` rather than
    ``INVALID_ARGUMENT``. Size rules of single fields (a proof longer than ``MAX_PROOF_BYTES``,
    too many names in a list) are format rules, not this limit: they raise the plain
    :class:`ProtocolViolation`.
    """


class AggregateIntegrityError(ProtocolViolation):
    """A decoded sum that no set of honest contributions could produce; it must not be used.

    Every honest encoded coordinate lies in ``[0, levels * w]`` and every weight in
    ``[1, max_weight]``, so an honest sum decodes to means inside the clip range and a total
    weight of at most ``contributors * max_weight``. A sum outside these bounds means that a
    contribution was forged (one silo sending a huge value to steer the model) or that the
    aggregate was tampered with.
    """


class RoundAbortedError(FedsealError):
    """The round cannot complete safely and was abandoned; no secret was released."""


class AuthenticationError(ProtocolViolation):
    """A signature or AEAD tag did not verify. Opaque on purpose."""

    def __init__(self, message: str = "authentication failed") -> None:
        super().__init__(message)


class PrivacyBudgetExceeded(FedsealError):
    """Training this round would exceed the silo's epsilon budget."""


class AuditIntegrityError(FedsealError):
    """An audit log entry, chain link, Merkle root or checkpoint signature does not verify."""


class MissingExtraError(FedsealError, ImportError):
    """An optional dependency group (an extra of the ``fedseal`` package) is not installed.

    Raised by :func:`fedseal.extras.require` before the first import of a package that only an
    extra brings (torch, Opacus, matplotlib: ``dp``). The ``fedseal`` command prints its one-line
    message, which names the extra and the command that installs it, without a traceback. It is
    also an ``ImportError``, so code that guards an optional import keeps working.

    Parameters
    ----------
    extra : str
        The extra to install, e.g. ``"dp"``.
    module : str
        The top-level module that was not found, e.g. ``"torch"`` (kept as ``name``).
    """

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"this command needs the {extra!r} extra: pip install 'fedseal[{extra}]'")
        self.extra = extra
        self.name = module
