"""Exhaustive (stage x message type) transitions of the client session (STYLE.md rule 8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fedseal.errors import ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientStage

from .test_attacks import Harness

ACCEPTED = {
    ClientStage.NEW: m.BeginRound,
    ClientStage.ADVERTISED: m.KeyDirectory,
    ClientStage.SHARED: m.ShareDelivery,
    ClientStage.MASKED: m.ConsistencyRequest,
    ClientStage.SIGNED: m.UnmaskRequest,
}


def _sample(kind: type, params: m.RoundParams) -> Any:
    ctx = ("dep-test", 1)
    return {
        m.BeginRound: m.BeginRound(params),
        m.AdvertiseKeys: m.AdvertiseKeys(*ctx, "silo-00", bytes(32), bytes(32), bytes(64)),
        m.KeyDirectory: m.KeyDirectory(*ctx, ()),
        m.ShareKeys: m.ShareKeys(*ctx, "silo-00", (), bytes(64)),
        m.ShareDelivery: m.ShareDelivery(*ctx, ()),
        m.MaskedInput: m.MaskedInput(*ctx, "silo-00", np.zeros(16, np.uint32)),
        m.ConsistencyRequest: m.ConsistencyRequest(*ctx, ()),
        m.ConsistencySignature: m.ConsistencySignature(*ctx, "silo-00", bytes(64)),
        m.UnmaskRequest: m.UnmaskRequest(*ctx, (), (), ()),
        m.UnmaskResponse: m.UnmaskResponse(*ctx, "silo-00", (), ()),
        m.AbortRound: m.AbortRound(*ctx, "test"),
    }[kind]


def _harness_at(stage: ClientStage) -> Harness:
    h = Harness()
    steps = list(ACCEPTED).index(stage) if stage in ACCEPTED else 5
    for _ in range(steps):
        h.step()
    assert h.clients["silo-00"].stage is stage
    return h


MESSAGE_TYPES = [
    m.BeginRound, m.AdvertiseKeys, m.KeyDirectory, m.ShareKeys, m.ShareDelivery, m.MaskedInput,
    m.ConsistencyRequest, m.ConsistencySignature, m.UnmaskRequest, m.UnmaskResponse, m.AbortRound,
]  # fmt: skip


@pytest.mark.parametrize("stage", [*ACCEPTED, ClientStage.DONE])
@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_every_unexpected_message_aborts_the_session(stage: ClientStage, kind: type) -> None:
    if ACCEPTED.get(stage) is kind:
        pytest.skip("the accepted message of this stage is covered by the round tests")
    h = _harness_at(stage)
    client = h.clients["silo-00"]
    with pytest.raises((ProtocolViolation, RoundAbortedError)):
        client.receive(_sample(kind, h.params))
    assert client.stage in (ClientStage.ABORTED, ClientStage.DONE)
    # Once ended, the session refuses everything, including the message it used to accept.
    with pytest.raises(ProtocolViolation, match="already ended"):
        client.receive(_sample(ACCEPTED.get(stage, m.BeginRound), h.params))


def test_the_accepted_message_moves_exactly_one_stage() -> None:
    h = Harness()
    order = [*ACCEPTED, ClientStage.DONE]
    for i in range(5):
        assert h.clients["silo-00"].stage is order[i]
        h.step()
    assert h.clients["silo-00"].stage is ClientStage.DONE
    assert h.server.result is not None


def test_an_unexpected_exception_ends_the_client_session_and_drops_its_secrets() -> None:
    """h11's rule on the silo: any exception leaves the session ABORTED before it propagates."""
    h = Harness(n=4)
    session = h.clients["silo-00"]
    begin = m.BeginRound(h.params)

    def broken(message: Any) -> list[m.Message]:
        raise ValueError("boom")

    session._handlers[(ClientStage.NEW, m.BeginRound)] = broken
    with pytest.raises(ValueError, match="boom"):
        session.receive(begin)
    assert session.stage is ClientStage.ABORTED and session._round is None


def test_a_stale_silo_toml_is_named_as_such_when_a_round_lists_a_newer_silo() -> None:
    """Issue 13: a site that kept its old silo.toml after silos were added used to read
    "server violated the protocol"; the refusal now says which silo it does not know and why."""
    from fedseal.protocol.client import ClientSession
    from fedseal.secagg.hazmat.randomness import SeededRandomSource

    h = Harness(n=4)
    stale = {s: k for s, k in h.deployment.directory.items() if s != "silo-03"}
    session = ClientSession(
        silo_id="silo-00", deployment_id="dep-test", identity_key=h.deployment.identity["silo-00"],
        directory=stale, rng=SeededRandomSource(b"x"), train_digest=h.digest,
        policy=h.deployment.policy,
    )  # fmt: skip
    with pytest.raises(ProtocolViolation, match=r"silo-03, unknown to this silo's silo\.toml"):
        session.receive(m.BeginRound(h.params))
    assert session.stage is ClientStage.ABORTED
