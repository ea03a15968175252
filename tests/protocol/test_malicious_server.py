"""A malicious server against honest silos: every attack of issue 9 ends in a refusal.

Each test plays the server by hand (it builds and routes messages itself, as an attacker would)
against real :class:`ClientSession` objects built through the public API.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedseal.errors import AuthenticationError, ProtocolViolation
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientSession, ClientStage
from fedseal.protocol.policy import ClientPolicy, default_min_participants
from fedseal.protocol.release import MemoryReleaseLedger, model_digest
from fedseal.protocol.server import ServerSession
from fedseal.secagg.graph import GraphKind, corrupt_count, round_parameters
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.identity import IdentityKey

DIGEST = hashlib.sha256(b"train-request").digest()


def _roster(n: int) -> tuple[list[str], dict[str, IdentityKey]]:
    names = [f"silo-{i:03d}" for i in range(n)]
    return names, {s: IdentityKey.generate() for s in names}


def _session(
    silo: str,
    keys: dict[str, IdentityKey],
    policy: ClientPolicy,
    *,
    digest: bytes = DIGEST,
    model: bytes | None = None,
    releases: MemoryReleaseLedger | None = None,
) -> ClientSession:
    return ClientSession(
        silo_id=silo,
        deployment_id="dep",
        identity_key=keys[silo],
        directory={s: k.public_key for s, k in keys.items()},
        rng=SeededRandomSource(silo.encode()),
        train_digest=digest,
        model_digest=model,
        policy=policy,
        releases=releases,
    )


def _params(participants: list[str], kind: GraphKind, k: int, t: int, round_id: int = 1):
    return m.RoundParams("dep", round_id, tuple(sorted(participants)), kind, k, t, 8, 32)


# -- 1. the server chooses the round size -----------------------------------------------------


def test_a_two_silo_round_in_a_twenty_silo_deployment_is_refused() -> None:
    names, keys = _roster(20)
    policy = ClientPolicy(roster_size=20, min_participants=default_min_participants(20))
    target = _session(names[0], keys, policy)
    begin = m.BeginRound(_params(names[:2], GraphKind.FULL, 1, 2))
    with pytest.raises(ProtocolViolation, match="min_participants is 10"):
        target.receive(begin)
    assert target.stage is ClientStage.ABORTED


def test_the_corruption_bound_comes_from_the_roster_not_from_the_round() -> None:
    # Even a library user who sets min_participants = 2 is protected: a = floor(0.05 * 40) = 2
    # colluders need rounds of at least a + 2 = 4 silos, and t is computed with a = 2.
    names, keys = _roster(40)
    policy = ClientPolicy(roster_size=40, min_participants=2)
    for n in (2, 3):
        session = _session(names[0], keys, policy)
        with pytest.raises(ProtocolViolation, match="at least 4 silos"):
            session.receive(m.BeginRound(_params(names[:n], GraphKind.FULL, n - 1, n)))
    weak = _params(names[:6], GraphKind.FULL, 5, 4)  # (6 + 0) // 2 + 1 = 4 with a = 0
    with pytest.raises(ProtocolViolation, match="below the safe minimum 5"):
        _session(names[0], keys, policy).receive(m.BeginRound(weak))


# -- 2. and 3. the server chooses the degree or the label --------------------------------------


def test_a_sparse_graph_of_too_small_degree_is_refused() -> None:
    names, keys = _roster(60)
    policy = ClientPolicy(roster_size=60, full_graph_max=0)
    need = round_parameters(60, corrupt=3, full_graph_max=0)
    assert need.kind is GraphKind.SPARSE and need.k > 2
    begin = m.BeginRound(_params(names, GraphKind.SPARSE, 2, 3))
    with pytest.raises(ProtocolViolation, match=f"needs sparse of degree {need.k}"):
        _session(names[0], keys, policy).receive(begin)
    # A larger t on the right degree is fine; a smaller one is not.
    ok = _session(names[0], keys, policy).receive(
        m.BeginRound(_params(names, GraphKind.SPARSE, need.k, need.threshold + 1))
    )
    assert isinstance(ok[0], m.AdvertiseKeys)
    with pytest.raises(ProtocolViolation, match="below the safe minimum"):
        _session(names[0], keys, policy).receive(
            m.BeginRound(_params(names, GraphKind.SPARSE, need.k, need.threshold - 1))
        )


def test_a_complete_graph_labelled_sparse_is_refused() -> None:
    names, keys = _roster(11)
    policy = ClientPolicy(roster_size=11)
    begin = m.BeginRound(_params(names, GraphKind.SPARSE, 10, 6))
    with pytest.raises(ProtocolViolation, match="needs full of degree 10"):
        _session(names[0], keys, policy).receive(begin)


# -- 4. model inconsistency (Pasquini et al., CCS 2022) ---------------------------------------


def test_silos_shown_different_models_all_refuse() -> None:
    names, keys = _roster(5)
    policy = ClientPolicy(roster_size=5)
    params = _params(names, GraphKind.FULL, 4, 4)
    zero_model = hashlib.sha256(b"a model whose update is zero").digest()
    # The target is sent the real model; every other silo a model that zeroes its update.
    sessions = {
        s: _session(s, keys, policy, digest=DIGEST if s == names[0] else zero_model) for s in names
    }
    ads = tuple(sessions[s].receive(m.BeginRound(params))[0] for s in names)
    directory = m.KeyDirectory("dep", 1, ads)  # the server forwards every advertisement
    for silo, session in sessions.items():
        with pytest.raises(AuthenticationError):
            session.receive(directory)
        assert session.stage is ClientStage.ABORTED, silo
    # An honest server's session sees the mismatch too and drops the odd silo out.
    server = ServerSession(params, {s: k.public_key for s, k in keys.items()}, train_digest=DIGEST)
    for ad in ads:
        server.receive(ad.sender, ad)
    assert {d.silo for d in server.dropouts} == set(names[1:])


# -- 5. differencing without any colluder ------------------------------------------------------


def test_three_two_silo_rounds_on_one_model_cannot_be_differenced() -> None:
    names, keys = _roster(3)
    policy = ClientPolicy(roster_size=3, corruption=0.0, min_participants=2)
    ledgers = {s: MemoryReleaseLedger() for s in names}
    model = model_digest(np.arange(4.0))
    inputs = {s: np.full(8, i + 1, np.uint32) for i, s in enumerate(names)}

    def run(pair: list[str], round_id: int) -> np.ndarray | None:
        params = _params(pair, GraphKind.FULL, 1, 2, round_id)
        digest = hashlib.sha256(b"request %d" % round_id).digest()
        sessions = {
            s: _session(s, keys, policy, digest=digest, model=model, releases=ledgers[s])
            for s in pair
        }
        for s in pair:
            sessions[s]._last_round = round_id - 1
            sessions[s].provide_input(inputs[s])
        server = ServerSession(params, {s: keys[s].public_key for s in pair}, train_digest=digest)
        outbox = server.start()
        for _ in range(6):
            nxt = []
            for silo, msg in outbox:
                try:
                    answers = sessions[silo].receive(msg)
                except ProtocolViolation:
                    return None
                for answer in answers:
                    nxt += server.receive(silo, answer)
            outbox = nxt or server.close_stage()
            if server.finished:
                break
        return server.result

    first = run(names[:2], 1)
    assert first is not None and np.array_equal(first, inputs[names[0]] + inputs[names[1]])
    # Silo a already helped unmask a sum on this model: it refuses {a, c} before making keys,
    # and so does b for {b, c}. The server holds one sum, from which nobody's input follows.
    assert run([names[0], names[2]], 2) is None
    assert run([names[1], names[2]], 3) is None
    assert not ledgers[names[2]].released(model)


# -- a silo never releases a share in a round its policy forbids --------------------------------


@settings(max_examples=150, deadline=None)
@given(
    roster=st.integers(3, 300),
    corruption=st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    n=st.integers(2, 300),
    kind=st.sampled_from(list(GraphKind)),
    k=st.integers(1, 299),
    t=st.integers(2, 300),
    full_graph_max=st.sampled_from([0, 20, 100]),
)
def test_an_accepted_round_always_meets_the_security_bounds(
    roster: int, corruption: float, n: int, kind: GraphKind, k: int, t: int, full_graph_max: int
) -> None:
    n = min(n, roster)
    names, keys = _roster(roster) if roster <= 40 else _ROSTER
    names = names[:roster]
    policy = ClientPolicy(
        roster_size=roster,
        corruption=corruption,
        min_participants=default_min_participants(roster, corruption),
        full_graph_max=full_graph_max,
    )
    params = _params(names[:n], kind, k, t)
    session = _session(names[0], keys, policy)
    try:
        out = session.receive(m.BeginRound(params))
    except ProtocolViolation:
        assert session.stage is ClientStage.ABORTED
        return
    assert isinstance(out[0], m.AdvertiseKeys)
    a = corrupt_count(roster, corruption)
    assert n >= policy.min_participants and n >= a + 2
    assert t - a >= 2  # every released sum holds at least two honest inputs
    if kind is GraphKind.FULL:
        assert k == n - 1 and 2 * t > n + a and t >= 2 * n // 3 + 1
    else:
        assert n > full_graph_max
        assert 2 * t > k + 1 + a and t >= k // 2 + a + 2  # consistency and connectivity


_ROSTER = _roster(300)
