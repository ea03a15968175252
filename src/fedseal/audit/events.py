"""Audit event names, outcomes, and the seatbelt that keeps secrets out of ``details``.

Every entry answers the NIST SP 800-53 AU-3 questions: what (``event``), when (``time``), where
and who (``party``), which round (``round``), and with what result (``outcome``); ``details``
carries the parameters, always as counts, names or digests. Recommended ``details`` keys (the
HTML report reads these; extra keys are fine):

==================== ===========================================================================
event                details
==================== ===========================================================================
party_started        ``role``, ``version``, ``config_sha256``; the server's also ``roster_sha256``,
                     ``silos`` and ``revoked`` (names only)
party_authenticated  ``peer``, ``peer_fingerprint``
round_started        ``n``, ``t``, ``k``, ``bits``, ``graph``, ``dp`` (object), ``participants``
keys_advertised      ``silo``, ``count``
shares_routed        ``count``, ``silo``
dropout              ``silo``, ``stage``, ``reason``
consistency_result   ``survivors`` (list of silo names), ``passed`` (bool)
unmask_answered      ``silo``, ``survivors_count``, ``dropped_count``
unmask_refused       ``silo``, ``reason``
aggregate_released   ``aggregate_sha256``, ``model_sha256`` (of the new model), ``silos_count``
aggregate_rejected   ``aggregate_sha256``, ``silos_count``, ``reason`` (the integrity check failed)
silo_excluded        ``silo``, ``reason`` (a bad share revealed, or shares its neighbours rejected)
round_finished       ``participants``, ``dropouts`` (lists of silo names)
dp_epsilon_spent     ``silo``, ``epsilon``, ``delta``, ``epsilon_total``, ``accountant``
dp_budget_refused    ``silo``, ``epsilon_requested``, ``epsilon_budget``
dp_plan              ``silo``, ``rounds_affordable``, ``rounds_limit``, ``noise_multiplier``,
                     ``sample_rate``, ``steps``, ``epsilon_spent``, ``epsilon_budget``, ``delta``,
                     ``accountant`` (at silo start; outcome ``refused`` if no round fits)
config_changed       ``setting``, ``old``, ``new`` (never a secret value), ``silo``; for
                     ``setting = "roster"`` (server start): ``added``, ``removed``,
                     ``revoked``, ``unrevoked``
provisioning         ``action``, ``subject``, ``cert_fingerprint``
==================== ===========================================================================

``checkpoint``, ``checkpoint_cosigned`` and ``log_repaired`` are written only by
:class:`fedseal.audit.AuditLog` itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fedseal.audit.canonical import MAX_DEPTH
from fedseal.errors import ConfigError

__all__ = [
    "AGGREGATE_REJECTED",
    "AGGREGATE_RELEASED",
    "CHECKPOINT",
    "CHECKPOINT_COSIGNED",
    "CONFIG_CHANGED",
    "CONSISTENCY_RESULT",
    "DP_BUDGET_REFUSED",
    "DP_EPSILON_SPENT",
    "DP_PLAN",
    "DROPOUT",
    "EVENTS",
    "FAILURE",
    "KEYS_ADVERTISED",
    "LOG_REPAIRED",
    "OUTCOMES",
    "PARTY_AUTHENTICATED",
    "PARTY_STARTED",
    "PROVISIONING",
    "REFUSED",
    "RESERVED_EVENTS",
    "ROUND_FINISHED",
    "ROUND_STARTED",
    "SHARES_ROUTED",
    "SILO_EXCLUDED",
    "SUCCESS",
    "UNMASK_ANSWERED",
    "UNMASK_REFUSED",
    "check_details",
]

PARTY_STARTED = "party_started"
PARTY_AUTHENTICATED = "party_authenticated"
ROUND_STARTED = "round_started"
KEYS_ADVERTISED = "keys_advertised"
SHARES_ROUTED = "shares_routed"
DROPOUT = "dropout"
CONSISTENCY_RESULT = "consistency_result"
UNMASK_ANSWERED = "unmask_answered"
UNMASK_REFUSED = "unmask_refused"
AGGREGATE_RELEASED = "aggregate_released"
AGGREGATE_REJECTED = "aggregate_rejected"
SILO_EXCLUDED = "silo_excluded"
ROUND_FINISHED = "round_finished"
DP_EPSILON_SPENT = "dp_epsilon_spent"
DP_BUDGET_REFUSED = "dp_budget_refused"
DP_PLAN = "dp_plan"
CONFIG_CHANGED = "config_changed"
PROVISIONING = "provisioning"
CHECKPOINT = "checkpoint"
CHECKPOINT_COSIGNED = "checkpoint_cosigned"
LOG_REPAIRED = "log_repaired"

#: Events only the log itself writes (``AuditLog.append`` refuses them).
RESERVED_EVENTS = frozenset({CHECKPOINT, CHECKPOINT_COSIGNED, LOG_REPAIRED})

#: Every event name ``AuditLog.append`` accepts, plus the reserved ones.
EVENTS = frozenset(
    {
        PARTY_STARTED,
        PARTY_AUTHENTICATED,
        ROUND_STARTED,
        KEYS_ADVERTISED,
        SHARES_ROUTED,
        DROPOUT,
        CONSISTENCY_RESULT,
        UNMASK_ANSWERED,
        UNMASK_REFUSED,
        AGGREGATE_RELEASED,
        AGGREGATE_REJECTED,
        SILO_EXCLUDED,
        ROUND_FINISHED,
        DP_EPSILON_SPENT,
        DP_BUDGET_REFUSED,
        DP_PLAN,
        CONFIG_CHANGED,
        PROVISIONING,
    }
    | RESERVED_EVENTS
)

SUCCESS = "success"
FAILURE = "failure"
REFUSED = "refused"
#: Outcomes ``AuditLog.append`` accepts.
OUTCOMES = frozenset({SUCCESS, FAILURE, REFUSED})

#: Key tokens that smell of a secret or of raw data.
_SECRET_TOKENS = frozenset(
    {"key", "keys", "secret", "secrets", "seed", "seeds", "share", "shares", "private", "password"}
    | {"passphrase", "token", "mask", "masks", "weights", "gradient", "gradients", "raw"}
)
#: A key whose *last* token is one of these names a count or a digest, which is fine
#: (``shares_count``, ``key_fingerprint``, ``mask_sha256``).
_SAFE_SUFFIXES = frozenset(
    {"count", "counts", "n", "digest", "digests", "sha256", "fingerprint", "fingerprints"}
    | {"hash", "hashes", "id", "ids", "len", "length", "size", "bits", "algorithm"}
)
_TOKEN = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
#: Longest string value in ``details``, in characters (Unicode code points).
MAX_STRING = 2048
#: Most items in one array of ``details``.
MAX_LIST = 1024


def _tokens(key: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(key)]


def _check_value(value: Any, path: str, level: int) -> None:
    """``level``: how deeply ``value`` nests inside the entry (``details`` itself is 2)."""
    if isinstance(value, Mapping | list | tuple) and level > MAX_DEPTH:
        raise ConfigError(f"audit details {path}: nested deeper than {MAX_DEPTH} in the entry")
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ConfigError(f"audit details {path}: string longer than {MAX_STRING} characters")
        return
    if isinstance(value, bytes | bytearray | memoryview) or hasattr(value, "__array__"):
        raise ConfigError(
            f"audit details {path}: {type(value).__name__} values are refused; "
            "record a digest (hex SHA-256) instead of raw bytes or arrays"
        )
    if isinstance(value, Mapping):
        _check_mapping(value, path, level)
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise ConfigError(f"audit details {path}: list longer than {MAX_LIST} items")
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", level + 1)
        return
    raise ConfigError(f"audit details {path}: {type(value).__name__} is not allowed")


def _check_mapping(details: Mapping[Any, Any], path: str, level: int) -> None:
    for key, value in details.items():
        if not isinstance(key, str):
            raise ConfigError(f"audit details {path}: keys must be str, got {key!r}")
        tokens = _tokens(key)
        if tokens and tokens[-1] not in _SAFE_SUFFIXES and _SECRET_TOKENS.intersection(tokens):
            raise ConfigError(
                f"audit details {path}.{key}: key names a secret or raw data; audit records "
                f"carry counts and digests only (name it e.g. '{key}_sha256' or '{key}_count')"
            )
        _check_value(value, f"{path}.{key}", level + 1)


def check_details(details: Mapping[str, Any]) -> None:
    """Refuse ``details`` that obviously carry secrets, raw data or model values.

    Refuses bytes-like and array-like values (anything with ``__array__``, such as numpy
    arrays), strings over ``MAX_STRING`` characters, lists over ``MAX_LIST`` items, nesting
    deeper than ``MAX_DEPTH`` (counting the entry and ``details`` as two levels), and keys
    whose words include ``key``, ``secret``, ``seed``, ``share``, ``private``, ``mask``,
    ``weights`` ... unless the last word says it is a count or digest (``shares_count``,
    ``key_fingerprint``, ``update_sha256``).

    Raises
    ------
    ConfigError
        Naming the offending path, e.g. ``audit details $.share``.

    Warnings
    --------
    This is a seatbelt, not a proof: a secret under an innocent name (``"x": seed.hex()``)
    passes. Callers must only ever put counts, names, parameters and digests in ``details``.
    """
    if not isinstance(details, Mapping):
        raise ConfigError(f"audit details must be a mapping, got {type(details).__name__}")
    _check_value(details, "$", 2)
