"""The one exception tree of fedseal, split by who is to blame.

``ConfigError``
    The local caller misused the API or gave a bad parameter. Fix the call.
``ProtocolViolation``
    A peer (the server, or another silo) sent something the protocol forbids.
    The session that raised it is now in a terminal state.
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
"""

from __future__ import annotations

__all__ = [
    "AuditIntegrityError",
    "AuthenticationError",
    "ConfigError",
    "FedsealError",
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
