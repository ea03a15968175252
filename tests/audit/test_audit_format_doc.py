"""``docs/audit-format.md`` against the code: its tables of events, outcomes, fields and limits
are parsed from the Markdown and must equal what ``fedseal.audit`` accepts and enforces."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import pytest
from audit_cli_helpers import Clock

from fedseal.audit import AuditLog, events, verify_log
from fedseal.audit.canonical import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    MAX_SAFE_INTEGER,
    canonical_bytes,
    decode_canonical,
)
from fedseal.audit.entry import FIELDS, MAX_NAME, MAX_PARTY, ZERO_HASH, Entry, parse_entry
from fedseal.audit.events import MAX_LIST, MAX_STRING, check_details
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityKey

DOC = Path(__file__).parents[2] / "docs" / "audit-format.md"
TEXT = DOC.read_text(encoding="utf-8")


def tables(header: str) -> list[list[list[str]]]:
    """The rows (cells stripped) of every table whose header row starts with ``header``."""
    lines = TEXT.splitlines()
    found = []
    for start in (i for i, line in enumerate(lines) if line.startswith(header)):
        assert re.fullmatch(r"\|(---\|)+", lines[start + 1]), "a header separator must follow"
        rows = []
        for line in lines[start + 2 :]:
            if not line.startswith("|"):
                break
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        assert rows, f"table {header!r} is empty"
        found.append(rows)
    assert found, f"no table {header!r}"
    return found


def table(header: str) -> list[list[str]]:
    """The first table whose header row starts with ``header``."""
    return tables(header)[0]


def code(cell: str) -> str:
    """The text of a cell that is one ``code span``."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


def test_event_table_is_the_code_set() -> None:
    rows = table("| event | reserved |")
    names = [code(row[0]) for row in rows]
    assert len(names) == len(set(names))
    assert set(names) == events.EVENTS
    assert {code(r[0]) for r in rows if r[1] == "yes"} == events.RESERVED_EVENTS
    assert {r[1] for r in rows} == {"yes", "no"}


def test_outcome_table_is_the_code_set() -> None:
    assert {code(row[0]) for row in table("| outcome | meaning |")} == events.OUTCOMES


def test_entry_field_table_is_the_code_set() -> None:
    assert sorted(code(row[0]) for row in table("| key | type |")) == list(FIELDS)


def test_checkpoint_and_cosignature_detail_tables_match_what_the_log_writes(
    tmp_path: Path,
) -> None:
    server, silo = IdentityKey(bytes(32)), IdentityKey(bytes([7]) * 32)
    with AuditLog(tmp_path / "a.jsonl", party="server", identity=server, clock=Clock()) as log:
        log.append(events.PARTY_STARTED, details={"role": "server"})
        cp = log.checkpoint()
        cosig = log.record_cosignature(
            cp, silo.public_key, cp.cosign(silo, server_key=server.public_key)
        )
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    checkpoint_rows, cosigned_rows = tables("| key | value |")
    assert {code(r[0]) for r in checkpoint_rows} == set(json.loads(lines[1])["details"])
    assert {code(r[0]) for r in cosigned_rows} == set(cosig.details)
    store_keys = TEXT.split("exactly the members", 1)[1].split(": a checkpoint as", 1)[0]
    assert set(re.findall(r"`(\w+)`", store_keys)) == set(cp.to_record())


def test_every_limit_in_the_table_is_the_code_constant() -> None:
    rows = table("| limit | value | applies to | constant |")
    found = {}
    for limit, value, _, constant in rows:
        module, name = code(constant).rsplit(".", 1)
        found[name] = getattr(importlib.import_module(module), name)
        assert int(value) == found[name], f"{limit}: doc says {value}, code has {found[name]}"
    expected = {
        "MAX_SAFE_INTEGER": MAX_SAFE_INTEGER,
        "MAX_DEPTH": MAX_DEPTH,
        "MAX_LINE_BYTES": MAX_LINE_BYTES,
        "MAX_PARTY": MAX_PARTY,
        "MAX_NAME": MAX_NAME,
        "MAX_STRING": MAX_STRING,
        "MAX_LIST": MAX_LIST,
    }
    assert found == expected


def test_no_other_limit_number_appears_in_the_prose() -> None:
    """A number of characters, items or bytes in the text is a limit, or a key/hash size."""
    sizes = {32, 64}  # Ed25519 keys and hashes, signatures
    allowed = {MAX_DEPTH, MAX_LINE_BYTES, MAX_PARTY, MAX_NAME, MAX_STRING, MAX_LIST} | sizes
    for number, unit in re.findall(r"\b(\d[\d,]*) (characters|items|bytes)\b", TEXT):
        assert int(number.replace(",", "")) in allowed, f"{number} {unit}"
    assert "{0,63}" in TEXT and MAX_NAME == 64  # the name pattern of §0


def test_the_limits_are_enforced_as_documented() -> None:
    def entry(**fields: object) -> dict[str, object]:
        base: dict[str, object] = {
            "seq": 0,
            "time": "2025-01-31T12:00:00.000000Z",
            "party": "server",
            "event": "party_started",
            "round": None,
            "outcome": "success",
            "details": {},
            "prev": ZERO_HASH,
        }
        return base | fields

    def parses(obj: dict[str, object]) -> bool:
        try:
            parse_entry(canonical_bytes(obj))
        except (ValueError, ConfigError):
            return False
        return True

    assert parses(entry(party="é" * MAX_PARTY))  # characters, not bytes
    assert not parses(entry(party="a" * (MAX_PARTY + 1)))
    assert parses(entry(event="e" * MAX_NAME, outcome="o" * MAX_NAME))
    assert not parses(entry(event="e" * (MAX_NAME + 1)))
    assert not parses(entry(outcome="o" * (MAX_NAME + 1)))
    nested: object = 1
    for _ in range(MAX_DEPTH - 2):  # the entry and details are two levels
        nested = [nested]
    assert parses(entry(details={"x": nested}))
    with pytest.raises(ValueError, match="nested deeper"):
        decode_canonical(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(ConfigError):
        Entry.build(**entry(details={"x": [nested]}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Entry.build(**entry(details={"x": "a" * MAX_LINE_BYTES}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="longer than"):
        decode_canonical(b'"' + b"a" * (MAX_LINE_BYTES - 1) + b'"')
    check_details({"names": ["é" * MAX_STRING] * MAX_LIST})
    with pytest.raises(ConfigError, match="string longer"):
        check_details({"name": "a" * (MAX_STRING + 1)})
    with pytest.raises(ConfigError, match="list longer"):
        check_details({"names": [0] * (MAX_LIST + 1)})
    with pytest.raises(ConfigError):
        canonical_bytes({"n": MAX_SAFE_INTEGER + 1})


@pytest.mark.parametrize(
    "bad",
    [
        "2025-01-31T24:00:00.000000Z",  # no 24:00
        "2025-02-29T00:00:00.000000Z",  # not a leap year
        "0000-01-01T00:00:00.000000Z",  # year 0001-9999
        "2025-01-31T12:00:60.000000Z",  # no leap second
        "2025-01-31T12:00:00.00000\u0660Z",  # ASCII digits only
        "2025-01-31t12:00:00.000000z",  # upper-case T and Z
    ],
)
def test_time_rules_of_section_3(bad: str) -> None:
    obj = {"seq": 0, "time": bad, "party": "p", "event": "e", "round": None, "outcome": "o"}
    with pytest.raises(ValueError):
        parse_entry(canonical_bytes(obj | {"details": {}, "prev": ZERO_HASH}))


def test_float_spellings_of_section_2() -> None:
    rows = table("| float | canonical |")
    assert len(rows) >= 10
    for value, spelled in rows:
        x = float(value)
        assert canonical_bytes(x).decode() == code(spelled), value
        back = decode_canonical(code(spelled).encode())
        assert back == x and math.copysign(1, back) == math.copysign(1, x)
    with pytest.raises(ValueError):
        decode_canonical(b"-0")  # the integer zero is never -0


def test_arrays_in_details_are_written_and_verified(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, party="server", identity=IdentityKey(bytes(32)), clock=Clock()) as log:
        log.append(
            events.ROUND_FINISHED,
            round=1,
            details={"participants": ["a", "b"], "matrix": [[1, 2.5], [{"x": None}]]},
        )
        log.checkpoint(round=1)
    assert verify_log(path).ok
