"""fedseal: federated learning for regulated cross-silo settings.

Secure aggregation against a malicious server (Bonawitz et al. 2017; Bell et al. 2020),
per-silo differential privacy with one accountant for the whole deployment, and a
tamper-evident audit log (RFC 6962). See ``SECURITY.md`` for the threat model.
"""

from __future__ import annotations

from fedseal.errors import (
    AuditIntegrityError,
    AuthenticationError,
    ConfigError,
    FedsealError,
    PrivacyBudgetExceeded,
    ProtocolViolation,
    RoundAbortedError,
)

__version__ = "0.1.0"

__all__ = [
    "AuditIntegrityError",
    "AuthenticationError",
    "ConfigError",
    "FedsealError",
    "PrivacyBudgetExceeded",
    "ProtocolViolation",
    "RoundAbortedError",
    "__version__",
]
