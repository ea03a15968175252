"""A small provisioned-layout deployment with DP silos, a failed round and a dropout, for the
compliance pack and review tests; and a structural HTML checker (balanced tags, no script)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from audit_cli_helpers import Clock

from fedseal.audit import AuditLog, WitnessStore, events
from fedseal.secagg.identity import IdentityKey

SERVER = IdentityKey(bytes(range(32)))
SILOS = {name: IdentityKey(bytes([i + 50]) * 32) for i, name in enumerate(("a", "b", "c"))}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PROCESSING = (
    "[processing]\n"
    'controller = "Consortium of hospitals, dpo@example.org"\n'
    'purposes = ["train a readmission-risk model"]\n'
    'data_categories = ["health data (diagnoses)", "age band"]\n'
    f"recipients = [{HOSTILE!r}]\n"
)
TICK = timedelta(seconds=1)


def _server_log(path: Path, reason: str) -> None:
    stores = {n: WitnessStore(path.parent / f"w-{n}.jsonl") for n in SILOS}
    with AuditLog(path, party="server", identity=SERVER, clock=Clock(TICK)) as log:
        log.append(events.PARTY_STARTED, details={"role": "server", "aggregation": "masking"})
        for n in SILOS:
            log.append(events.PARTY_AUTHENTICATED, details={"peer": n, "peer_fingerprint": "ab"})
        for rnd in (1, 2):
            log.append(
                events.ROUND_STARTED,
                round=rnd,
                details={"participants": sorted(SILOS), "aggregation": "masking", "t": 2},
            )
            if rnd == 2:
                log.append(
                    events.DROPOUT,
                    round=2,
                    outcome=events.FAILURE,
                    details={"silo": "c", "stage": "masked_input", "reason": reason},
                )
                log.append(
                    events.ROUND_FINISHED,
                    round=2,
                    outcome=events.FAILURE,
                    details={"participants": sorted(SILOS), "dropouts": ["c"], "reason": reason},
                )
                continue
            log.append(events.CONSISTENCY_RESULT, round=rnd, details={"passed": True})
            log.append(
                events.AGGREGATE_RELEASED,
                round=rnd,
                details={"aggregate_sha256": "ab" * 32, "model_sha256": "cd" * 32},
            )
            log.append(events.ROUND_FINISHED, round=rnd, details={"participants": sorted(SILOS)})
            cp = log.checkpoint(round=rnd)
            for name, key in SILOS.items():
                stores[name].add(cp)
                log.record_cosignature(
                    cp, key.public_key, cp.cosign(key, server_key=SERVER.public_key)
                )


def _silo_log(path: Path, name: str) -> None:
    with AuditLog(path, party=name, identity=SILOS[name], clock=Clock(TICK)) as log:
        log.append(events.PARTY_STARTED, details={"role": "silo", "silo": name})
        plan = {"silo": name, "epsilon_spent": 0.0, "epsilon_budget": 8.0, "delta": 1e-05}
        log.append(events.DP_PLAN, details={**plan, "noise_multiplier": 1.5, "sample_rate": 0.1})
        for rnd, total in ((1, 1.25), (2, 2.0)):
            log.append(events.ROUND_STARTED, round=rnd, details={"participants": sorted(SILOS)})
            log.append(
                events.DP_EPSILON_SPENT,
                round=rnd,
                details={"silo": name, "epsilon_total": total, "delta": 1e-05},
            )
        log.append(
            events.DP_BUDGET_REFUSED,
            round=3,
            outcome=events.REFUSED,
            details={"silo": name, "reason": "epsilon would reach 9 > budget 8"},
        )
        log.checkpoint()


def make_deployment(root: Path, *, processing: bool = True, reason: str = HOSTILE) -> Path:
    """``root/server`` and ``root/silos/<a|b|c>`` as ``fedseal provision`` lays them out."""
    (root / "server").mkdir(parents=True)
    ids = "\n".join(f'{n} = "{k.public_key.to_bytes().hex()}"' for n, k in SILOS.items())
    (root / "server" / "server.toml").write_text(
        'deployment_id = "t"\nsilos = ["a", "b", "c"]\naudit_log = "audit.jsonl"\n'
        'aggregation = "masking"\nrevoked = []\n\n[tls]\nca_cert = "ca.crt"\n\n'
        + (PROCESSING if processing else "")
        + f"\n[identities]\n{ids}\n"
    )
    _server_log(root / "server" / "audit.jsonl", reason)
    for name in SILOS:
        silo = root / "silos" / name
        (silo / "state").mkdir(parents=True)
        (silo / "silo.toml").write_text(
            f'silo = "{name}"\nserver_identity = "{SERVER.public_key.to_bytes().hex()}"\n'
            'state_dir = "state"\naudit_log = "audit.jsonl"\n\n[dp]\nenabled = true\n'
            "epsilon_budget = 8.0\n"
        )
        (root / "server" / f"w-{name}.jsonl").rename(silo / "state" / "witnessed-checkpoints.jsonl")
        _silo_log(silo / "audit.jsonl", name)
    return root


class StrictHTML(HTMLParser):
    """Records structural faults: unbalanced tags, scripts, event-handler attributes."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.faults: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "img", "link"):
            self.faults.append(f"forbidden tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.faults.append(f"active attribute {name}")
            if name == "id" and value:
                self.ids.add(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.faults.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> StrictHTML:
    """Parse ``text``; raise AssertionError naming any structural fault."""
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert not parser.faults, parser.faults
    assert parser.stack == [], parser.stack
    return parser
