"""``aggregation = "paillier"`` over mTLS gRPC, and a silo facing a malicious server (issue 6).

Keys are 512-bit (``paillier_allow_insecure_bits``) so that provisioning takes well under a
second; everything else is the deployment code path. The malicious-server tests drive a
:class:`~fedseal.client.agent.SiloAgent` directly with crafted messages: no network needed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.audit.verify import verify_log
from fedseal.client.agent import SiloAgent
from fedseal.client.run import make_paillier
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.paillier_keys import load_deployment_key
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.quantize import QuantizationSpec

from .conftest import (
    DIM,
    Deployment,
    ServerThread,
    SiloThread,
    crashing_agent,
    make_deployment,
)


def make_paillier_deployment(
    tmp_path: Path, names: list[str], *, server: dict[str, Any] | None = None
) -> Deployment:
    """As ``conftest.make_deployment``, provisioned with a 512-bit threshold Paillier key."""
    options = {"paillier": True, "paillier_bits": 512, "paillier_allow_insecure_bits": True}
    dep = make_deployment(tmp_path, names, server=server, provision_options=options)
    assert dep.server.aggregation == "paillier"
    return dep


@pytest.fixture(scope="module")
def paillier_dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    names = ["hospital-a", "hospital-b", "hospital-c", "hospital-d"]
    return make_paillier_deployment(tmp_path_factory.mktemp("he"), names)


# -- whole rounds over mTLS --------------------------------------------------------------------


def run_round(dep: Deployment, agents: dict[str, type[SiloAgent]] | None = None) -> None:
    server = ServerThread(dep).start()
    silos = [
        SiloThread(dep, n, agent_type=(agents or {}).get(n, SiloAgent)).start() for n in dep.silos
    ]
    server.join()
    for s in silos:
        s.join()
    assert server.error is None


def test_rounds_complete_and_equal_the_weighted_mean(tmp_path: Path, names: list[str]) -> None:
    dep = make_paillier_deployment(tmp_path, names, server={"rounds": 2})
    run_round(dep)
    assert [r.completed for r in dep.summaries] == [True, True], dep.summaries
    assert all(r.survivors == tuple(names) and not r.dropouts for r in dep.summaries)
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    step = 2 * dep.server.clip / (2**dep.server.bits)
    np.testing.assert_allclose(model, 2 * dep.expected_mean(tuple(names)), atol=4 * step)
    metrics = dep.summaries[0].metrics
    assert metrics is not None and metrics.accuracy == pytest.approx(0.75, abs=0.01)
    key = IdentityPublicKey(bytes.fromhex(dep.silos[names[0]].server_identity))
    report = verify_log(dep.server.audit_log, key=key)
    assert report.ok and report.cosignatures == 2 * len(names)
    entries = [json.loads(line) for line in dep.server.audit_log.read_text().splitlines()]
    started = [e for e in entries if e["event"] == "round_started"]
    assert [e["details"]["aggregation"] for e in started] == ["paillier", "paillier"]
    assert started[0]["details"]["t"] == 3 and started[0]["details"]["n"] == 4
    assert sum(e["event"] == "aggregate_released" for e in entries) == 2


def test_a_silo_dropping_before_its_input_is_not_summed(tmp_path: Path, names: list[str]) -> None:
    dep = make_paillier_deployment(tmp_path, names)
    victim = names[1]
    run_round(dep, {victim: crashing_agent(c.TrainRequest)})
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    rest = tuple(n for n in names if n != victim)
    assert summary.survivors == rest
    assert [d["silo"] for d in summary.dropouts] == [victim]
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    step = 2 * dep.server.clip / (2**dep.server.bits)
    np.testing.assert_allclose(model, dep.expected_mean(rest), atol=4 * step)


def wrong_partial_agent() -> type[SiloAgent]:
    class Liar(SiloAgent):
        def handle(self, message: Any) -> Any:
            replies, finished = super().handle(message)
            out = []
            for reply in replies:
                if isinstance(reply, c.PartialDecryptionShare):
                    first = int.from_bytes(reply.values[:128], "big")
                    forged = (first * 4 % (1 << 1023) or 1).to_bytes(128, "big")
                    reply = dataclasses.replace(reply, values=forged + reply.values[128:])
                out.append(reply)
            return out, finished

    return Liar


def test_a_wrong_partial_decryption_is_excluded(tmp_path: Path, names: list[str]) -> None:
    dep = make_paillier_deployment(tmp_path, names)
    liar = names[2]
    run_round(dep, {liar: wrong_partial_agent()})
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    assert summary.survivors == tuple(names)  # its input is in the sum; its partial is not used
    (dropout,) = summary.dropouts
    assert dropout["silo"] == liar and dropout["stage"] == "decrypt"
    assert "invalid partial decryption" in dropout["reason"]
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    step = 2 * dep.server.clip / (2**dep.server.bits)
    np.testing.assert_allclose(model, dep.expected_mean(tuple(names)), atol=4 * step)
    entries = [json.loads(line) for line in dep.server.audit_log.read_text().splitlines()]
    assert any(e["event"] == "dropout" and e["details"]["silo"] == liar for e in entries)


# -- a malicious server, driving agents directly ------------------------------------------------


class Silos:
    """The four silos' agents of a Paillier deployment, fed by hand."""

    def __init__(self, dep: Deployment, tmp_path: Path) -> None:
        self.dep = dep
        self.agents: dict[str, SiloAgent] = {}
        self.paillier_silos: dict[str, Any] = {}
        self.audits: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, config in dep.silos.items():
            identity = load_identity_key(config.identity_key)
            directory = {
                s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()
            }
            policy = ClientPolicy(corruption=config.corruption)
            he = make_paillier(config, identity=identity, directory=directory, policy=policy)
            assert he is not None
            self.paillier_silos[name] = he
            agent = SiloAgent(
                silo=name,
                deployment_id=config.deployment_id,
                identity_key=identity,
                directory=directory,
                server_identity=IdentityPublicKey(bytes.fromhex(config.server_identity)),
                app=dep.apps[name],
                state_dir=tmp_path / name,
                paillier=he,
            )
            events: list[tuple[str, dict[str, Any]]] = []
            agent._audit_event = (  # type: ignore[method-assign]
                lambda event, round_id, outcome="success", _e=events, **details: _e.append(
                    (event, details)
                )
            )
            self.agents[name], self.audits[name] = agent, events

    def train(self, round_id: int = 1) -> dict[str, c.PaillierInput]:
        spec = QuantizationSpec(
            clip=1.0, bits=16, max_weight=1000, max_silos=4, modulus_bits=64,
            num_metrics=2, metric_clip=100.0,
        )  # fmt: skip
        request = c.TrainRequest("test", round_id, np.zeros(DIM), "paillier", spec)
        inputs = {}
        for name, agent in self.agents.items():
            (reply,), _ = agent.handle(request)
            assert isinstance(reply, c.PaillierInput)
            inputs[name] = reply
        return inputs

    def ask(self, name: str, contributions: list[c.PaillierInput], round_id: int = 1) -> Any:
        replies, _ = self.agents[name].handle(
            c.DecryptRequest("test", round_id, tuple(contributions))
        )
        return replies

    def refused(self, name: str) -> list[str]:
        return [d["reason"] for e, d in self.audits[name] if e == "unmask_refused"]


@pytest.fixture
def silos(paillier_dep: Deployment, tmp_path: Path) -> Silos:
    return Silos(paillier_dep, tmp_path)


def assert_refused(silos: Silos, name: str, replies: Any, reason: str) -> None:
    assert len(replies) == 1 and isinstance(replies[0], m.AbortRound), replies
    (logged,) = silos.refused(name)
    assert reason in logged, logged


def test_an_honest_request_is_answered_and_combines(silos: Silos) -> None:
    inputs = silos.train()
    everyone = [inputs[n] for n in sorted(inputs)]
    (share,) = silos.ask("hospital-a", everyone)
    assert isinstance(share, c.PartialDecryptionShare) and share.index == 1
    assert share.sender == "hospital-a" and share.round_id == 1
    assert ("unmask_answered", "hospital-a") in [
        (e, d.get("silo")) for e, d in silos.audits["hospital-a"]
    ]


def test_fewer_than_t_contributions_are_refused(silos: Silos) -> None:
    inputs = silos.train()
    two = [inputs["hospital-a"], inputs["hospital-b"]]  # t = 3 of 4
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", two), "at least 3")
    # A silo that did not contribute to that subset refuses it as well.
    assert_refused(silos, "hospital-c", silos.ask("hospital-c", two), "at least 3")


def test_a_single_contribution_is_never_decrypted(silos: Silos) -> None:
    inputs = silos.train()
    only_b = [inputs["hospital-b"]]
    assert_refused(silos, "hospital-c", silos.ask("hospital-c", only_b), "at least 3")


def test_a_forged_signature_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    mallory = IdentityKey.generate()
    forged = dataclasses.replace(
        inputs["hospital-b"], signature=mallory.sign(inputs["hospital-b"].signed_payload())
    )
    request = [inputs["hospital-a"], forged, inputs["hospital-c"], inputs["hospital-d"]]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "does not verify")


def test_a_ciphertext_swapped_under_a_valid_signature_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    swapped = dataclasses.replace(
        inputs["hospital-b"], ciphertexts=inputs["hospital-c"].ciphertexts
    )
    request = [inputs["hospital-a"], swapped, inputs["hospital-c"], inputs["hospital-d"]]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "does not verify")


def test_a_duplicate_sender_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    request = [inputs["hospital-a"], inputs["hospital-b"], inputs["hospital-b"]]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "listed twice")


def test_a_sender_outside_the_deployment_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    stranger = dataclasses.replace(inputs["hospital-d"], sender="mallory")
    request = [inputs["hospital-a"], inputs["hospital-b"], inputs["hospital-c"], stranger]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "not a deployment silo")


def test_its_own_contribution_missing_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    others = [inputs[n] for n in ("hospital-b", "hospital-c", "hospital-d")]
    assert_refused(
        silos, "hospital-a", silos.ask("hospital-a", others), "own contribution is missing"
    )


def test_its_own_contribution_altered_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    own = inputs["hospital-a"]
    blob = bytearray(own.ciphertexts)
    blob[-1] ^= 1
    altered = dataclasses.replace(own, ciphertexts=bytes(blob))
    request = [altered, inputs["hospital-b"], inputs["hospital-c"], inputs["hospital-d"]]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "does not verify")


def test_its_own_contribution_replaced_even_under_its_own_signature_is_refused(
    silos: Silos,
) -> None:
    # Only someone holding hospital-a's identity key can sign other bytes in its name; even
    # then hospital-a compares the contribution with what it sent.
    inputs = silos.train()
    a_key = load_identity_key(silos.dep.silos["hospital-a"].identity_key)
    other, proof = inputs["hospital-b"].ciphertexts, inputs["hospital-b"].proof
    signature = a_key.sign(c.paillier_input_payload("test", 1, "hospital-a", other, proof))
    replaced = c.PaillierInput("test", 1, "hospital-a", other, proof, signature)
    request = [replaced, inputs["hospital-b"], inputs["hospital-c"], inputs["hospital-d"]]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", request), "was altered")


def test_a_second_request_in_the_round_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    everyone = [inputs[n] for n in sorted(inputs)]
    (share,) = silos.ask("hospital-a", everyone)
    assert isinstance(share, c.PartialDecryptionShare)
    # The subtraction attack: a second aggregate without hospital-d.
    without_d = [inputs[n] for n in ("hospital-a", "hospital-b", "hospital-c")]
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", without_d), "second decrypt")
    # And the identical request again is refused as well.
    replies = silos.ask("hospital-a", everyone)
    assert isinstance(replies[0], m.AbortRound)


def test_a_refusal_ends_the_round_for_that_silo(silos: Silos) -> None:
    inputs = silos.train()
    assert_refused(silos, "hospital-a", silos.ask("hospital-a", [inputs["hospital-a"]]), "at least")
    everyone = [inputs[n] for n in sorted(inputs)]
    replies = silos.ask("hospital-a", everyone)
    assert isinstance(replies[0], m.AbortRound)  # no decryption after a refusal


def test_an_out_of_range_ciphertext_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    config = silos.dep.silos["hospital-a"]
    assert config.paillier_public_key is not None
    key = load_deployment_key(config.paillier_public_key, deployment_id="test").public_key
    width = key.ciphertext_bytes
    bad = (key.n_squared + 1).to_bytes(width, "big") + inputs["hospital-b"].ciphertexts[width:]
    # Signed as hospital-b would (the test holds its key): only the range check can catch it.
    b_key = load_identity_key(silos.dep.silos["hospital-b"].identity_key)
    proof = inputs["hospital-b"].proof
    payload = c.paillier_input_payload("test", 1, "hospital-b", bad, proof)
    forged = c.PaillierInput("test", 1, "hospital-b", bad, proof, b_key.sign(payload))
    request = [inputs["hospital-a"], forged, inputs["hospital-c"], inputs["hospital-d"]]
    replies = silos.ask("hospital-a", request)
    assert_refused(silos, "hospital-a", replies, "hospital-b")


def _colluder_input(
    silos: Silos, sender: str, ciphertexts: list[int], round_id: int, proof: bytes
) -> c.PaillierInput:
    """``ciphertexts`` signed by ``sender`` (the test holds its key: it colludes)."""
    config = silos.dep.silos[sender]
    assert config.paillier_public_key is not None
    key = load_deployment_key(config.paillier_public_key, deployment_id="test").public_key
    blob = b"".join(int(x).to_bytes(key.ciphertext_bytes, "big") for x in ciphertexts)
    identity = load_identity_key(config.identity_key)
    payload = c.paillier_input_payload("test", round_id, sender, blob, proof)
    return c.PaillierInput("test", round_id, sender, blob, proof, identity.sign(payload))


def _cts(silos: Silos, item: c.PaillierInput) -> list[int]:
    key = load_deployment_key(
        silos.dep.silos["hospital-a"].paillier_public_key,  # type: ignore[arg-type]
        deployment_id="test",
    ).public_key
    w = key.ciphertext_bytes
    return [
        int.from_bytes(item.ciphertexts[i : i + w], "big")
        for i in range(0, len(item.ciphertexts), w)
    ]


def _n2(silos: Silos) -> int:
    path = silos.dep.silos["hospital-a"].paillier_public_key
    assert path is not None
    return int(load_deployment_key(path, deployment_id="test").public_key.n_squared)


def test_a_colluders_input_derived_from_the_others_is_refused(silos: Silos) -> None:
    # hospital-d colludes with the server and wants hospital-a's input: it submits
    # Enc(-(b + c)), computed from the ciphertexts the server forwards, so that the decrypted
    # "aggregate" of a, b, c, d would be a's input alone. It knows no plaintext of that value,
    # so no proof it can attach verifies (here: its own honest one).
    inputs = silos.train()
    n2 = _n2(silos)
    b, cc = _cts(silos, inputs["hospital-b"]), _cts(silos, inputs["hospital-c"])
    derived = [pow(x * y % n2, -1, n2) for x, y in zip(b, cc, strict=True)]
    evil = _colluder_input(silos, "hospital-d", derived, 1, inputs["hospital-d"].proof)
    request = [inputs["hospital-a"], inputs["hospital-b"], inputs["hospital-c"], evil]
    for name in ("hospital-a", "hospital-b", "hospital-c"):
        assert_refused(silos, name, silos.ask(name, request), "plaintext knowledge of 'hospital-d'")


def test_an_earlier_rounds_ciphertext_folded_into_a_colluders_input_is_refused(
    silos: Silos,
) -> None:
    first = silos.train(round_id=1)
    second = silos.train(round_id=2)
    n2 = _n2(silos)
    # C_a(round 1) * (C_b C_c)(round 2)^-1: round 2's "sum" would be a's round-1 input.
    old_a = _cts(silos, first["hospital-a"])
    b, cc = _cts(silos, second["hospital-b"]), _cts(silos, second["hospital-c"])
    folded = [x * pow(y * z % n2, -1, n2) % n2 for x, y, z in zip(old_a, b, cc, strict=True)]
    for proof in (first["hospital-a"].proof, second["hospital-d"].proof):
        evil = _colluder_input(silos, "hospital-d", folded, 2, proof)
        request = [second["hospital-a"], second["hospital-b"], second["hospital-c"], evil]
        replies = silos.ask("hospital-b", request, round_id=2)
        assert isinstance(replies[0], m.AbortRound)
        assert "plaintext knowledge of 'hospital-d'" in silos.refused("hospital-b")[-1]
        silos.paillier_silos["hospital-b"]._round.answered = False  # type: ignore[union-attr]


def test_another_silos_input_claimed_by_a_colluder_is_refused(silos: Silos) -> None:
    inputs = silos.train()
    target = inputs["hospital-a"]
    # Copied as is (counted twice), or re-randomised so the bytes differ: both refused.
    copied = _colluder_input(silos, "hospital-d", _cts(silos, target), 1, target.proof)
    request = [target, inputs["hospital-b"], inputs["hospital-c"], copied]
    assert_refused(silos, "hospital-b", silos.ask("hospital-b", request), "same ciphertexts")
    n2 = _n2(silos)
    path = silos.dep.silos["hospital-a"].paillier_public_key
    assert path is not None
    n = int(load_deployment_key(path, deployment_id="test").public_key.n)
    blind = pow(7, n, n2)
    rerandomised = [x * blind % n2 for x in _cts(silos, target)]
    claimed = _colluder_input(silos, "hospital-d", rerandomised, 1, target.proof)
    request = [target, inputs["hospital-b"], inputs["hospital-c"], claimed]
    replies = silos.ask("hospital-c", request)
    assert isinstance(replies[0], m.AbortRound)
    assert "plaintext knowledge of 'hospital-d'" in silos.refused("hospital-c")[-1]


def test_a_request_for_another_round_is_ignored(silos: Silos) -> None:
    inputs = silos.train(round_id=1)
    everyone = [inputs[n] for n in sorted(inputs)]
    assert silos.ask("hospital-a", everyone, round_id=2) == []
    assert silos.refused("hospital-a") == []


def test_a_silo_without_a_key_share_abstains(paillier_dep: Deployment, tmp_path: Path) -> None:
    config = paillier_dep.silos["hospital-a"]
    agent = SiloAgent(
        silo="hospital-a",
        deployment_id="test",
        identity_key=load_identity_key(config.identity_key),
        directory={s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()},
        server_identity=IdentityPublicKey(bytes.fromhex(config.server_identity)),
        app=paillier_dep.apps["hospital-a"],
        state_dir=tmp_path / "a",
    )
    spec = QuantizationSpec(clip=1.0, bits=8, max_weight=10, max_silos=4, num_metrics=2)
    (reply,), _ = agent.handle(c.TrainRequest("test", 1, np.zeros(DIM), "paillier", spec))
    assert isinstance(reply, c.Abstain) and "paillier_key_share" in reply.reason


def test_a_key_with_a_threshold_below_the_silo_policy_is_refused(
    paillier_dep: Deployment,
) -> None:
    from fedseal.client.paillier_silo import PaillierSilo
    from fedseal.deploy.paillier_keys import DeploymentKey
    from fedseal.errors import ConfigError
    from fedseal.secagg.hazmat.randomness import SystemRandomSource
    from fedseal.secagg.paillier import generate_threshold_key

    config = paillier_dep.silos["hospital-a"]
    names = tuple(sorted(config.identities))
    public, shares = generate_threshold_key(
        key_bits=512, parties=4, threshold=2, rng=SystemRandomSource(), allow_insecure=True
    )
    with pytest.raises(ConfigError, match="threshold 2 is below 3"):
        PaillierSilo(
            silo="hospital-a",
            deployment_id="test",
            identity_key=load_identity_key(config.identity_key),
            directory={
                s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()
            },
            key=DeploymentKey(deployment_id="test", parties=names, public_key=public),
            share=shares[0],
            policy=ClientPolicy(),
            rng=SystemRandomSource(),
        )


# -- the server's checks, without a network -----------------------------------------------------


@pytest.fixture
def server_round(paillier_dep: Deployment) -> Any:
    from fedseal.server.app import driver_config, paillier_aggregator

    config = paillier_dep.server
    directory = {s: IdentityPublicKey(bytes.fromhex(h)) for s, h in config.identities.items()}
    setup = paillier_aggregator(config, directory, spec=driver_config(config).quantization, dim=DIM)
    assert setup is not None
    yield setup.new_round(1)
    setup.close()


def test_the_server_checks_each_input_before_summing_it(silos: Silos, server_round: Any) -> None:
    from fedseal.errors import ProtocolViolation

    inputs = silos.train()
    server_round.add_input("hospital-a", inputs["hospital-a"])
    with pytest.raises(ProtocolViolation, match="second input"):
        server_round.add_input("hospital-a", inputs["hospital-a"])
    with pytest.raises(ProtocolViolation, match="names sender"):
        server_round.add_input("hospital-c", inputs["hospital-b"])
    forged = dataclasses.replace(inputs["hospital-b"], signature=bytes(64))
    with pytest.raises(ProtocolViolation, match="signature"):
        server_round.add_input("hospital-b", forged)
    with pytest.raises(ProtocolViolation, match="another deployment or round"):
        server_round.add_input("hospital-b", dataclasses.replace(inputs["hospital-b"], round_id=2))
    assert server_round.contributors == ("hospital-a",)
    server_round.add_input("hospital-b", inputs["hospital-b"])
    from fedseal.errors import RoundAbortedError

    with pytest.raises(RoundAbortedError, match="threshold is 3"):
        server_round.decrypt_request()  # 2 inputs < t: no silo would decrypt them


def test_the_server_drops_inputs_without_a_valid_proof(silos: Silos, server_round: Any) -> None:
    from fedseal.errors import ProtocolViolation

    inputs = silos.train()
    n2 = _n2(silos)
    b, cc = _cts(silos, inputs["hospital-b"]), _cts(silos, inputs["hospital-c"])
    derived = [pow(x * y % n2, -1, n2) for x, y in zip(b, cc, strict=True)]
    evil = _colluder_input(silos, "hospital-d", derived, 1, inputs["hospital-d"].proof)
    with pytest.raises(ProtocolViolation, match="plaintext knowledge"):
        server_round.add_input("hospital-d", evil)
    server_round.add_input("hospital-a", inputs["hospital-a"])
    copied = _colluder_input(
        silos, "hospital-d", _cts(silos, inputs["hospital-a"]), 1, inputs["hospital-a"].proof
    )
    with pytest.raises(ProtocolViolation, match="same ciphertexts"):
        server_round.add_input("hospital-d", copied)
    assert server_round.contributors == ("hospital-a",)


def test_the_server_verifies_partials_and_their_index(silos: Silos, server_round: Any) -> None:
    from fedseal.errors import ProtocolViolation

    inputs = silos.train()
    for name, item in inputs.items():
        server_round.add_input(name, item)
    request = server_round.decrypt_request()
    shares = {}
    for name in ("hospital-a", "hospital-b", "hospital-c", "hospital-d"):
        (shares[name],) = silos.agents[name].handle(request)[0]
    with pytest.raises(ProtocolViolation, match="claims share 1"):
        server_round.check_partial(
            "hospital-b", dataclasses.replace(shares["hospital-a"], sender="hospital-b")
        )
    with pytest.raises(ProtocolViolation, match="did not verify"):
        bad = dataclasses.replace(shares["hospital-b"], challenge=bytes(32))
        server_round.check_partial("hospital-b", bad)
    valid = [
        server_round.check_partial(n, shares[n]) for n in ("hospital-a", "hospital-c", "hospital-d")
    ]
    total, decryption = server_round.combine(valid)
    assert decryption.used == (1, 3, 4) and total.shape == (DIM + 4,)  # w, v, 2 metrics


@pytest.mark.slow
def test_demo_with_paillier_aggregation(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "fedseal.cli", "demo", "--out", str(out), "--rounds", "3",
         "--aggregation", "paillier"],
        capture_output=True,
        text=True,
        timeout=280,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "dealing a 2048-bit threshold Paillier key" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds_completed"] == 3 and summary["aggregation"] == "paillier"
    assert summary["dropouts"][0] == {
        "round": 2, "silo": "hospital-e", "stage": "decrypt", "reason": "disconnected",
    }  # fmt: skip
    assert summary["final_accuracy"] >= 0.85
