"""The roster in the server's audit log: every start records it, a change is audited.

Provisioning (adding or revoking silos) runs on the provisioning machine, whose copy of the
server's log may not be the live one. So the live server records, in its ``party_started``
entry, the roster it starts with (silo names and the SHA-256 of their identity keys, and the
revoked names; no secret), and compares it with the roster of its previous start in the same
log: a difference is appended as a ``config_changed`` entry (``setting = "roster"``, old and
new digests, the silos added, removed and revoked since), before the first round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from fedseal.audit import events as ev
from fedseal.audit.entry import Entry

__all__ = ["last_roster", "roster_change", "roster_details"]


def roster_details(identities: Mapping[str, str], revoked: Sequence[str]) -> dict[str, Any]:
    """What a ``party_started`` entry records of the roster: names, revoked, a digest."""
    names = sorted(identities)
    material = "\n".join(f"{n}={identities[n].lower()}" for n in names)
    material += "\nrevoked=" + ",".join(sorted(revoked))
    return {
        "roster_sha256": hashlib.sha256(material.encode()).hexdigest(),
        "silos": names,
        "revoked": sorted(revoked),
    }


def last_roster(entries: Sequence[Entry]) -> dict[str, Any] | None:
    """The roster details of the last ``party_started`` entry that has them, or None."""
    found = None
    for entry in entries:
        if entry.event == ev.PARTY_STARTED and "roster_sha256" in entry.details:
            found = entry.details
    return found


def roster_change(previous: Mapping[str, Any] | None, now: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config_changed`` details between two rosters (empty if they are the same).

    The first start that records a roster (``previous`` None) is not a change.
    """
    if previous is None or previous.get("roster_sha256") == now["roster_sha256"]:
        return {}
    old = set(previous.get("silos", []))
    new = set(now["silos"])
    old_revoked = set(previous.get("revoked", []))
    return {
        "setting": "roster",
        "old": previous.get("roster_sha256"),
        "new": now["roster_sha256"],
        "added": sorted(new - old),
        "removed": sorted(old - new),
        "revoked": sorted(set(now["revoked"]) - old_revoked),
        "unrevoked": sorted(old_revoked - set(now["revoked"])),
    }
