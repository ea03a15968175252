"""The ``[processing]`` table of ``server.toml``: the processing activity, as declared.

Every key is optional. Nothing here changes how a round runs: the values are declarations that
``fedseal audit report --compliance`` copies into the GDPR Art. 30 record of processing
activities (controller and DPO contact, purposes, categories of data subjects and of personal
data, recipients, transfers, retention, organisational measures), each marked as *declared in
server.toml* and kept apart from what the audit logs evidence. A key left out is reported as
"not declared in server.toml".

``fedseal.audit`` reads the same keys with :mod:`tomllib` (it may not import this package); its
``fedseal.audit.compliance_config.PROCESSING_KEYS`` must equal :data:`PROCESSING`'s keys (a test
checks it). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedseal.config.schema import STR, STRINGS, Check, Kind, Option, Table
from fedseal.errors import ConfigError

__all__ = ["MAX_ITEMS", "MAX_TEXT", "PROCESSING", "ProcessingSettings"]

#: Longest declared string, and most items in a declared list (they end up in reports).
MAX_TEXT = 2048
MAX_ITEMS = 100


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_TEXT:
        raise ConfigError(f"{name} must be at most {MAX_TEXT} characters, got {len(value)}")
    return value


def _texts(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    if not value or len(value) > MAX_ITEMS:
        raise ConfigError(f"{name} must list 1 to {MAX_ITEMS} items, got {len(value)}")
    return tuple(_text(f"{name} entry", item) for item in value)


def _option(key: str, check: Check, comment: str) -> Option:
    kind: Kind = STRINGS if check is _texts else STR
    return Option(key=key, kind=kind, default=None, check=check, comment=comment)


#: ``server.toml [processing]``. ``fedseal provision`` does not write it (``write=False`` on
#: the option): the controller fills it in.
PROCESSING = Table(
    (
        _option("controller", _text, "name and contact details of the controller"),
        _option("processor", _text, "who operates the coordination server, if not the controller"),
        _option("dpo_contact", _text, "contact details of the data protection officer"),
        _option("purposes", _texts, "purposes of the processing"),
        _option("data_subjects", _texts, "categories of data subjects"),
        _option("data_categories", _texts, "categories of personal data"),
        _option("recipients", _texts, "categories of recipients of the trained model"),
        _option("transfers", _texts, "transfers to third countries and their safeguards"),
        _option("retention", _text, "time limits for erasure of each category of data"),
        _option("organisational_measures", _texts, "organisational security measures"),
    ),
    "processing.",
)


@dataclass(frozen=True, kw_only=True)
class ProcessingSettings:
    """The controller's declaration of the processing activity (GDPR Art. 30(1)).

    Parameters
    ----------
    controller, processor, dpo_contact, retention : str, optional
        Free text, 1 to :data:`MAX_TEXT` characters.
    purposes, data_subjects, data_categories, recipients, transfers, organisational_measures
        Lists of 1 to :data:`MAX_ITEMS` non-empty strings (tuples here).

    Raises
    ------
    ConfigError
        Naming the key, for an empty or over-long value.

    Warnings
    --------
    These are declarations, not evidence: the audit logs do not sign them, and the compliance
    pack presents them as "declared in server.toml", never as facts the logs show.
    """

    controller: str | None = None
    processor: str | None = None
    dpo_contact: str | None = None
    purposes: tuple[str, ...] | None = None
    data_subjects: tuple[str, ...] | None = None
    data_categories: tuple[str, ...] | None = None
    recipients: tuple[str, ...] | None = None
    transfers: tuple[str, ...] | None = None
    retention: str | None = None
    organisational_measures: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        PROCESSING.validate(self)

    def declared(self) -> dict[str, str | tuple[str, ...]]:
        """The keys that are set, and their values."""
        out: dict[str, str | tuple[str, ...]] = {}
        for option in PROCESSING.options:
            value = getattr(self, option.key)
            if value is not None:
                out[option.key] = value
        return out
