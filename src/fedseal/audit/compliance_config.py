"""What the deployment's configuration declares, for the compliance evidence pack.

GDPR Art. 30(1) asks for facts no audit log can show (who the controller is, the purposes, the
categories of data and of data subjects, recipients, transfers, retention). The controller
declares them in the optional ``[processing]`` table of ``server.toml``; this module reads it
with :mod:`tomllib` output only (``fedseal.audit`` may not import ``fedseal.config``, whose
``fedseal.config.processing.PROCESSING`` table declares the same keys: a test keeps them equal).

It also recomputes the roster digest the server logs at start (``party_started`` ->
``roster_sha256``, as ``fedseal.server.roster_audit`` computes it) from ``server.toml``, so the
pack can say whether the roster read from the file is the one the log recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fedseal.audit.compliance_evidence import DECLARED, NOT_DECLARED, Evidence, Row

__all__ = ["PROCESSING_KEYS", "declared_row", "processing_table", "roster_digest"]

#: The keys of ``server.toml [processing]`` (``fedseal.config.processing.PROCESSING``).
PROCESSING_KEYS = (
    "controller",
    "processor",
    "dpo_contact",
    "purposes",
    "data_subjects",
    "data_categories",
    "recipients",
    "transfers",
    "retention",
    "organisational_measures",
)


def processing_table(server: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The declared ``[processing]`` values and a warning per key that is ignored.

    Unknown keys and values of the wrong type are ignored (with a warning): the pack never
    presents them. ``fedseal server`` refuses such a file anyway.
    """
    raw = server.get("processing", {}) if server is not None else {}
    if not isinstance(raw, Mapping):
        return {}, ["server.toml [processing] is not a table: ignored"]
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        if key not in PROCESSING_KEYS:
            warnings.append(f"server.toml [processing] has an unknown key {key!r}: ignored")
        elif isinstance(value, str) and value.strip():
            out[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out[key] = [str(v) for v in value]
        else:
            warnings.append(f"server.toml processing.{key} is not text or a list of text: ignored")
    return out, warnings


def declared_row(ref: str, item: str, declared: Mapping[str, Any], key: str) -> Row:
    """A row whose content only the controller can declare (``server.toml [processing]``)."""
    cite = Evidence.config("server.toml", f"processing.{key}")
    value = declared.get(key)
    if value is None:
        return Row(ref, item, NOT_DECLARED, f"not declared in server.toml ([processing] {key})")
    text = "; ".join(value) if isinstance(value, list) else str(value)
    return Row(ref, item, DECLARED, f"declared in server.toml: {text}", [cite])


def roster_digest(server: Mapping[str, Any]) -> str | None:
    """SHA-256 hex of ``[identities]`` and ``revoked``, as the server logs it at start."""
    identities = server.get("identities")
    revoked = server.get("revoked", [])
    if not isinstance(identities, Mapping) or not isinstance(revoked, list):
        return None
    names = sorted(str(n) for n in identities)
    material = "\n".join(f"{n}={str(identities[n]).lower()}" for n in names)
    material += "\nrevoked=" + ",".join(sorted(str(r) for r in revoked))
    return hashlib.sha256(material.encode()).hexdigest()
