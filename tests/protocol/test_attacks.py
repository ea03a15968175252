"""A malicious server or peer: each attack ends in a clear ProtocolViolation or refusal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fedseal.errors import AuthenticationError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientSession, ClientStage
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.simulation import simulated_train_digest

from .conftest import make_round


class Harness:
    """Drives a round by hand so a test can tamper with what the server sends."""

    def __init__(self, n: int = 5, graph: str = "full") -> None:
        self.deployment, self.params, self.inputs = make_round(n, graph=graph)
        self.digest = simulated_train_digest(self.params)
        self.server = ServerSession(
            self.params, self.deployment.directory, train_digest=self.digest
        )
        self.clients = {
            s: ClientSession(
                silo_id=s,
                deployment_id="dep-test",
                identity_key=self.deployment.identity[s],
                directory=self.deployment.directory,
                rng=SeededRandomSource(s.encode()),
                train_digest=self.digest,
                policy=self.deployment.policy,
            )
            for s in self.params.participants
        }
        for s, c in self.clients.items():
            c.provide_input(self.inputs[s])
        self.outbox = self.server.start()

    def step(self, skip: frozenset[str] = frozenset()) -> list[tuple[str, m.Message]]:
        """Deliver the outbox to the clients and their answers to the server."""
        sent = self.outbox
        nxt: list[tuple[str, m.Message]] = []
        for silo, msg in sent:
            if silo in skip:
                continue
            for answer in self.clients[silo].receive(msg):
                nxt += self.server.receive(silo, answer)
        if not nxt and not self.server.finished:
            nxt = self.server.close_stage()
        self.outbox = nxt
        return nxt

    def to(self, silo: str) -> m.Message:
        return next(msg for s, msg in self.outbox if s == silo)


def test_silo_listed_as_survivor_and_dropped_is_refused() -> None:
    h = Harness()
    h.step()  # advertise -> directory
    h.step()  # share keys -> delivery
    h.step(skip=frozenset({"silo-04"}))  # masked input (silo-04 silent) -> consistency request
    h.step()  # signatures -> unmask request
    request = h.to("silo-00")
    assert isinstance(request, m.UnmaskRequest) and request.dropped == ("silo-04",)
    forged = replace(request, dropped=("silo-01", "silo-04"))
    with pytest.raises(ProtocolViolation, match="both as survivor and as dropped"):
        h.clients["silo-00"].receive(forged)
    assert h.clients["silo-00"].stage is ClientStage.ABORTED


def test_different_survivor_sets_fail_the_consistency_check() -> None:
    h = Harness()
    for _ in range(3):
        h.step()
    request = h.to("silo-00")
    assert isinstance(request, m.ConsistencyRequest)
    # The server tells silo-00 that silo-03 did not survive, while the others heard it did.
    answer = h.clients["silo-00"].receive(
        replace(request, survivors=tuple(s for s in request.survivors if s != "silo-03"))
    )[0]
    others = [h.clients[s].receive(request)[0] for s in ("silo-01", "silo-02", "silo-03")]
    assert isinstance(answer, m.ConsistencySignature)
    signatures = tuple((a.sender, a.signature) for a in [answer, *others])
    unmask = m.UnmaskRequest("dep-test", 1, request.survivors, (), signatures)
    with pytest.raises(AuthenticationError):  # silo-00 signed another set
        h.clients["silo-01"].receive(unmask)
    # Without silo-00's signature only 3 < t = 4 signed the set: silo-02 refuses.
    with pytest.raises(ProtocolViolation, match="fewer than 4 consistency signatures"):
        h.clients["silo-02"].receive(replace(unmask, signatures=signatures[1:]))


def test_bad_signature_on_a_key_advertisement_is_rejected() -> None:
    h = Harness()
    h.step()
    directory = h.to("silo-00")
    assert isinstance(directory, m.KeyDirectory)
    ads = list(directory.advertisements)
    ads[1] = replace(ads[1], s_public=ads[2].s_public[::-1])  # server swaps in its own key
    with pytest.raises(AuthenticationError):
        h.clients["silo-00"].receive(replace(directory, advertisements=tuple(ads)))


def test_duplicate_key_in_directory_is_rejected() -> None:
    h = Harness()
    h.step()
    directory = h.to("silo-00")
    assert isinstance(directory, m.KeyDirectory)
    ads = list(directory.advertisements)
    ads[2] = replace(ads[2], s_public=ads[1].s_public)
    with pytest.raises(ProtocolViolation, match="repeats a public key"):
        h.clients["silo-00"].receive(replace(directory, advertisements=tuple(ads)))


def test_server_rejects_bad_advertisement_and_duplicate_keys() -> None:
    h = Harness()
    answers = {s: h.clients[s].receive(msg)[0] for s, msg in h.outbox}
    bad = replace(answers["silo-00"], signature=bytes(64))
    h.server.receive("silo-00", bad)
    # A malicious silo-02 copies silo-01's key into a correctly signed advertisement.
    from fedseal.protocol.transcript import advertise_payload
    from fedseal.secagg.keys import RoundContext

    copied = answers["silo-01"].c_public
    payload = advertise_payload(
        RoundContext("dep-test", 1), h.server.digest, "silo-02", copied, answers["silo-02"].s_public
    )
    dup = replace(
        answers["silo-02"],
        c_public=copied,
        signature=h.deployment.identity["silo-02"].sign(payload),
    )
    h.server.receive("silo-01", answers["silo-01"])
    h.server.receive("silo-02", dup)
    reasons = {d.silo: d.reason for d in h.server.dropouts}
    assert "authentication failed" in reasons["silo-00"]
    assert "duplicate public key" in reasons["silo-02"]


@pytest.mark.parametrize(
    "change", [{"round_id": 0}, {"round_id": 7}, {"deployment_id": "other-deployment"}]
)
def test_messages_from_another_round_or_deployment_are_rejected(change: dict[str, object]) -> None:
    h = Harness()
    h.step()
    directory = h.to("silo-00")
    with pytest.raises(ProtocolViolation, match="another round or deployment"):
        h.clients["silo-00"].receive(replace(directory, **change))  # type: ignore[arg-type]
    # ...and the server drops a silo that answers for another round.
    h2 = Harness()
    answer = h2.clients["silo-01"].receive(h2.to("silo-01"))[0]
    h2.server.receive("silo-01", replace(answer, **change))  # type: ignore[arg-type]
    assert "another round or deployment" in h2.server.dropouts[0].reason


def test_begin_round_of_another_deployment_or_unsafe_threshold_is_refused() -> None:
    h = Harness()
    begin = h.to("silo-00")
    assert isinstance(begin, m.BeginRound)
    with pytest.raises(ProtocolViolation, match="another deployment"):
        h.clients["silo-00"].receive(
            replace(begin, params=replace(begin.params, deployment_id="x"))
        )
    with pytest.raises(ProtocolViolation, match="below the safe minimum"):
        h.clients["silo-01"].receive(replace(begin, params=replace(begin.params, threshold=2)))


@pytest.mark.parametrize(
    "vector",
    [np.zeros(15, dtype=np.uint32), np.zeros(16, dtype=np.int64), np.zeros(16, dtype=np.float32)],
)
def test_masked_vector_of_wrong_length_or_dtype_is_rejected(vector: np.ndarray) -> None:
    h = Harness()
    h.step()
    h.step()
    delivery = h.to("silo-00")
    assert isinstance(delivery, m.ShareDelivery)
    answer = h.clients["silo-00"].receive(delivery)[0]
    assert isinstance(answer, m.MaskedInput)
    h.server.receive("silo-00", replace(answer, vector=vector))
    assert h.server.dropouts[-1].silo == "silo-00"
    assert "masked input must" in h.server.dropouts[-1].reason


def test_sender_field_must_match_the_authenticated_silo() -> None:
    h = Harness()
    answer = h.clients["silo-01"].receive(h.to("silo-01"))[0]
    h.server.receive("silo-02", answer)  # silo-02 relays silo-01's advertisement
    assert "does not match" in h.server.dropouts[0].reason


def test_second_unmask_request_is_refused() -> None:
    h = Harness()
    for _ in range(4):
        h.step()
    request = h.to("silo-00")
    assert isinstance(request, m.UnmaskRequest)
    h.clients["silo-00"].receive(request)
    with pytest.raises(ProtocolViolation, match="already ended"):
        h.clients["silo-00"].receive(request)


def test_fewer_than_t_survivors_abort_and_silos_release_nothing() -> None:
    h = Harness()
    h.step()
    h.step()
    h.step(skip=frozenset({"silo-03", "silo-04"}))  # only 3 < t = 4 send masked input
    assert h.server.stage is ServerStage.ABORTED
    assert all(isinstance(msg, m.AbortRound) for _, msg in h.outbox)
    with pytest.raises(RoundAbortedError):
        h.clients["silo-00"].receive(h.to("silo-00"))
    assert h.clients["silo-00"].stage is ClientStage.ABORTED
    # A consistency request naming too few survivors is refused too.
    h2 = Harness()
    for _ in range(3):
        h2.step()
    request = h2.to("silo-00")
    assert isinstance(request, m.ConsistencyRequest)
    with pytest.raises(RoundAbortedError, match="survivors"):
        h2.clients["silo-00"].receive(replace(request, survivors=("silo-00", "silo-01")))


@pytest.mark.parametrize("sender", ["silo-00", "silo-99"], ids=["itself", "outsider"])
def test_a_share_the_server_says_comes_from_a_non_neighbour_is_refused(sender: str) -> None:
    """A malicious server relabels a delivered share: the silo refuses it before it looks up
    any key for the sender (it keeps only its neighbours' keys)."""
    h = Harness()
    h.step()
    h.step()
    delivery = h.to("silo-00")
    assert isinstance(delivery, m.ShareDelivery)
    forged = (replace(delivery.shares[0], sender=sender), *delivery.shares[1:])
    with pytest.raises(ProtocolViolation, match="non-neighbour"):
        h.clients["silo-00"].receive(replace(delivery, shares=forged))
