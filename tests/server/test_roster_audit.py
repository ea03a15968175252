"""Issue 14: provisioning changes reach the live server log at its next start."""

from __future__ import annotations

from pathlib import Path

from fedseal.audit import events as ev
from fedseal.audit.log import AuditLog
from fedseal.server.app import logged_entries
from fedseal.server.roster_audit import last_roster, roster_change, roster_details

KEYS = {"a": "aa" * 32, "b": "bb" * 32, "c": "cc" * 32}


def test_a_roster_change_is_found_from_the_live_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert last_roster(logged_entries(path)) is None
    first = roster_details({k: KEYS[k] for k in "ab"}, [])
    assert roster_change(None, first) == {}  # the first start records, nothing changed
    with AuditLog(path, party="server") as audit:
        audit.append(ev.PARTY_STARTED, details={"role": "server", **first})
    again = roster_details({k: KEYS[k] for k in "ab"}, [])
    assert roster_change(last_roster(logged_entries(path)), again) == {}
    grown = roster_details(KEYS, ["b"])
    change = roster_change(last_roster(logged_entries(path)), grown)
    assert change["setting"] == "roster" and change["old"] == first["roster_sha256"]
    assert (change["added"], change["removed"], change["revoked"]) == (["c"], [], ["b"])
    rekeyed = roster_details({"a": "ab" * 32, "b": KEYS["b"]}, [])
    assert roster_change(first, rekeyed)["new"] != first["roster_sha256"]  # a key changed
    with open(path, "ab") as f:
        f.write(b'{"event":"party_started","details":{"roster_sha256":"x"')  # torn tail
    assert last_roster(logged_entries(path)) == {"role": "server", **first}
