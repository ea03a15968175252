"""One malicious silo against an honest server and honest silos (issue 9).

It can neither corrupt the sum silently nor abort a round that has enough honest shares: the
server checks every revealed share against its dealer's commitment and excludes the bad
revealer by name; bad keys are refused when advertised; a garbage share is rejected by its
holder without ending the round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from fedseal.errors import ProtocolViolation
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientSession
from fedseal.protocol.server import ServerSession, ServerStage
from fedseal.protocol.transcript import share_keys_payload
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.keys import RoundContext
from fedseal.simulation import simulated_train_digest

from .conftest import make_round

Tamper = Callable[[m.Message], m.Message]


def _malicious(silo: str, tamper: Tamper) -> Callable[[str, ClientSession], None]:
    """A client hook that runs ``silo`` honestly but passes each answer through ``tamper``."""

    def hook(name: str, session: ClientSession) -> None:
        if name != silo:
            return
        honest = session.receive

        def receive(message: m.Message) -> list[m.Message]:
            return [tamper(answer) for answer in honest(message)]

        session.receive = receive  # type: ignore[method-assign]

    return hook


def _sum(inputs: dict[str, np.ndarray], silos: tuple[str, ...]) -> np.ndarray:
    return np.sum([inputs[s] for s in silos], axis=0, dtype=np.uint32)


def _flip(data: bytes) -> bytes:
    value = (int.from_bytes(data, "big") + 1) % shamir.PRIME
    return value.to_bytes(len(data), "big")


def _bad_seed_shares(msg: m.Message) -> m.Message:
    """An unmask answer whose every revealed seed share is off by one."""
    if isinstance(msg, m.UnmaskResponse):
        return replace(msg, seed_shares=tuple((o, _flip(d)) for o, d in msg.seed_shares))
    return msg


def test_wrong_shares_of_other_silos_seeds_are_caught_and_the_sum_stays_exact() -> None:
    deployment, params, inputs = make_round(5)

    outcome = deployment.run_round(
        params, inputs, client_hook=_malicious("silo-02", _bad_seed_shares)
    )
    assert outcome.result is not None
    assert np.array_equal(outcome.result, _sum(inputs, params.participants))
    (dropout,) = outcome.dropouts
    assert dropout.silo == "silo-02" and dropout.stage is ServerStage.UNMASK
    assert "fails its commitment" in dropout.reason


def test_a_wrong_key_share_of_a_dropped_silo_no_longer_aborts_the_round() -> None:
    deployment, params, inputs = make_round(7)  # t = 5: six survivors, one of them lies

    def bad_key_shares(msg: m.Message) -> m.Message:
        if isinstance(msg, m.UnmaskResponse):
            return replace(msg, key_shares=tuple((o, _flip(d)) for o, d in msg.key_shares))
        return msg

    def hook(name: str, session: ClientSession) -> None:
        _malicious("silo-01", bad_key_shares)(name, session)

    outcome = deployment.run_round(
        params,
        inputs,
        drop_at={"silo-06": ServerStage.MASKED_INPUT},
        client_hook=hook,
    )
    survivors = tuple(s for s in params.participants if s != "silo-06")
    assert outcome.result is not None
    assert np.array_equal(outcome.result, _sum(inputs, survivors))
    assert any(d.silo == "silo-01" and "fails its commitment" in d.reason for d in outcome.dropouts)


def test_a_small_order_key_drops_its_advertiser_not_its_neighbours() -> None:
    deployment, params, inputs = make_round(6)

    def zero_key(msg: m.Message) -> m.Message:
        if isinstance(msg, m.AdvertiseKeys):
            return replace(msg, s_public=bytes(32))  # signature no longer matters: refused first
        return msg

    outcome = deployment.run_round(params, inputs, client_hook=_malicious("silo-03", zero_key))
    survivors = tuple(s for s in params.participants if s != "silo-03")
    assert outcome.result is not None
    assert np.array_equal(outcome.result, _sum(inputs, survivors))
    assert [d.silo for d in outcome.dropouts] == ["silo-03"]
    assert outcome.dropouts[0].stage is ServerStage.ADVERTISE


def test_a_silo_refuses_a_small_order_key_a_malicious_server_forwards() -> None:
    from .test_attacks import Harness

    h = Harness()
    h.step()
    directory = h.to("silo-00")
    assert isinstance(directory, m.KeyDirectory)
    # Re-sign silo-01's advertisement with a small-order key, as silo-01 (colluding) would.
    from fedseal.protocol.transcript import advertise_payload
    from fedseal.secagg.keys import RoundContext

    ads = list(directory.advertisements)
    zero, one = bytes(32), (1).to_bytes(32, "little")  # u = 0 and u = 1: small order
    context = RoundContext("dep-test", 1)
    payload = advertise_payload(context, h.server.digest, "silo-01", one, zero)
    ads[1] = replace(
        ads[1],
        c_public=one,
        s_public=zero,
        signature=h.deployment.identity["silo-01"].sign(payload),
    )
    with pytest.raises(ProtocolViolation, match="invalid X25519 public key"):
        h.clients["silo-00"].receive(replace(directory, advertisements=tuple(ads)))


def _garbage_dealer(
    n: int, dealer: str, victims: Callable[[str], bool]
) -> tuple[Any, Any, dict[str, np.ndarray], ServerSession, Callable[[str, ClientSession], None]]:
    """A round where ``dealer`` deals noise to the holders ``victims`` picks, and signs it.

    The server cannot tell noise from a share; only the holder can.
    """
    deployment, params, inputs = make_round(n)
    server = ServerSession(
        params, deployment.directory, train_digest=simulated_train_digest(params)
    )

    def garbage(msg: m.Message) -> m.Message:
        if not isinstance(msg, m.ShareKeys):
            return msg
        shares = tuple(
            replace(s, ciphertext=bytes(len(s.ciphertext)))
            if s.ciphertext and victims(s.receiver)
            else s
            for s in msg.shares
        )
        payload = share_keys_payload(RoundContext("dep-test", 1), server.digest, dealer, shares)
        return replace(msg, shares=shares, signature=deployment.identity[dealer].sign(payload))

    return deployment, params, inputs, server, _malicious(dealer, garbage)


def test_one_garbage_share_ciphertext_is_rejected_without_ending_the_round() -> None:
    # t = 5 of 6: silo-00 still holds four valid shares and its own.
    deployment, params, inputs, server, dealer = _garbage_dealer(
        6, "silo-05", lambda holder: holder == "silo-00"
    )
    complaints: list[tuple[str, ...]] = []

    def hook(name: str, session: ClientSession) -> None:
        dealer(name, session)
        if name == "silo-00":
            _malicious("silo-00", lambda a: complaints.append(getattr(a, "rejected", ())) or a)(
                name, session
            )

    outcome = deployment.run_round(params, inputs, server=server, client_hook=hook)
    assert outcome.result is not None, outcome.abort_reason
    assert np.array_equal(outcome.result, _sum(inputs, params.participants))
    assert ("silo-05",) in complaints
    assert outcome.dropouts == [] and server.culprits == {}


def test_a_dealer_whose_shares_all_fail_is_named_and_the_round_aborts_cleanly() -> None:
    deployment, params, inputs, server, dealer = _garbage_dealer(6, "silo-05", lambda _: True)
    outcome = deployment.run_round(params, inputs, server=server, client_hook=dealer)
    assert outcome.result is None
    assert "silo-05" in (outcome.abort_reason or "")
    assert "rejected its shares" in server.culprits["silo-05"]
    assert set(server.culprits) == {"silo-05"}


def test_a_bad_share_is_blamed_on_the_dealer_if_it_never_signed_the_commitment() -> None:
    deployment, params, inputs = make_round(5)

    def unsigned(msg: m.Message) -> m.Message:
        return replace(msg, signature=bytes(64)) if isinstance(msg, m.ShareKeys) else msg

    def hook(name: str, session: ClientSession) -> None:
        _malicious("silo-00", unsigned)(name, session)
        _malicious("silo-02", _bad_seed_shares)(name, session)

    server = ServerSession(
        params, deployment.directory, train_digest=simulated_train_digest(params)
    )
    deployment.run_round(params, inputs, server=server, client_hook=hook)
    # silo-02's first bad share is of silo-00, whose commitments carry no valid signature.
    assert server.culprits["silo-00"] == "its ShareKeys signature does not verify"
