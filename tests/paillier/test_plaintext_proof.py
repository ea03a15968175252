"""Proofs of plaintext knowledge: completeness, binding, soundness of the batch, and the attacks.

The attacks of issue 10 at the level of the primitive: a colluder's input derived from other
silos' ciphertexts, a ciphertext from an earlier round, and another silo's input re-signed.
"""

from __future__ import annotations

import random
from dataclasses import replace

import gmpy2
import numpy as np
import pytest

from fedseal.errors import ProtocolViolation
from fedseal.secagg.hazmat.randomness import SeededRandomSource
from fedseal.secagg.paillier import Encryptor, PackingLayout, ThresholdPublicKey
from fedseal.secagg.paillier.plaintext_proof import (
    PlaintextProof,
    ProofContext,
    prove,
    verify,
)

from .conftest import Dealer


@pytest.fixture
def key(make_key: Dealer) -> ThresholdPublicKey:
    return make_key(3, 2)[0]


def _layout(pk: ThresholdPublicKey) -> PackingLayout:
    return PackingLayout(length=300, max_value=1000, max_summands=3, plaintext_bits=pk.key_bits - 1)


def _input(key: ThresholdPublicKey, sender: str, seed: int, round_id: int = 1):
    layout = _layout(key)
    enc = Encryptor(key, SeededRandomSource(seed))
    enc.precompute(layout.count)
    values = np.random.default_rng(seed).integers(0, 1000, layout.length, dtype=np.uint64)
    ctx = ProofContext("dep", round_id, sender)
    vector, proof = enc.encrypt_and_prove(values, layout, context=ctx)
    return vector, proof, ctx


def test_an_honest_proof_verifies_and_round_trips_as_bytes(key: ThresholdPublicKey) -> None:
    vector, proof, ctx = _input(key, "silo-a", 1)
    assert len(vector.ciphertexts) > 1
    assert verify(key, vector.ciphertexts, proof, context=ctx)
    again = PlaintextProof.from_bytes(proof.to_bytes(key), key)
    assert again == proof
    with pytest.raises(ProtocolViolation):
        PlaintextProof.from_bytes(proof.to_bytes(key)[:-1], key)


def test_a_proof_is_bound_to_its_ciphertexts_round_sender_and_deployment(
    key: ThresholdPublicKey,
) -> None:
    vector, proof, ctx = _input(key, "silo-a", 1)
    other, _, _ = _input(key, "silo-b", 2)
    assert not verify(key, other.ciphertexts, proof, context=ctx)
    for changed in (
        replace(ctx, round_id=2),
        replace(ctx, sender="silo-b"),
        replace(ctx, deployment_id="other"),
    ):
        assert not verify(key, vector.ciphertexts, proof, context=changed)


def test_the_batch_rejects_one_changed_ciphertext_at_any_position(
    key: ThresholdPublicKey,
) -> None:
    vector, proof, ctx = _input(key, "silo-a", 3)
    cts = list(vector.ciphertexts)
    n2 = key.n_squared
    positions = random.Random(0).sample(range(len(cts)), min(len(cts), 12))
    for i in positions:
        # Re-randomise (same plaintext, new r) or shift the plaintext by one: both refused.
        for factor in (gmpy2.powmod(7, key.n, n2), 1 + key.n):
            forged = cts.copy()
            forged[i] = int(cts[i] * factor % n2)
            assert not verify(key, forged, proof, context=ctx), i


def test_responses_out_of_range_are_refused(key: ThresholdPublicKey) -> None:
    vector, proof, ctx = _input(key, "silo-a", 4)
    for bad in (
        replace(proof, z=proof.z + key.n),
        replace(proof, w=0),
        replace(proof, w=proof.w + key.n),
        replace(proof, commitment=0),
        replace(proof, commitment=key.n_squared),
        replace(proof, z=(proof.z + 1) % key.n),
    ):
        assert not verify(key, vector.ciphertexts, bad, context=ctx)


def test_a_colluder_cannot_prove_an_input_derived_from_the_others(
    key: ThresholdPublicKey,
) -> None:
    # The colluder's "input" is Enc(-(sum of the honest inputs)) computed homomorphically: it
    # knows no opening, so whatever proof it attaches (its own honest one, one made with
    # garbage witnesses) fails.
    honest = [_input(key, f"silo-{i}", 10 + i) for i in range(2)]
    n2 = key.n_squared
    derived = [
        int(gmpy2.invert(a * b % n2, n2))
        for a, b in zip(honest[0][0].ciphertexts, honest[1][0].ciphertexts, strict=True)
    ]
    ctx = ProofContext("dep", 1, "colluder")
    _, own_proof, _ = _input(key, "colluder", 99)
    assert not verify(key, derived, own_proof, context=ctx)
    guess = prove(
        key, derived, [0] * len(derived), [1] * len(derived), context=ctx,
        rng=SeededRandomSource(5),
    )  # fmt: skip
    assert not verify(key, derived, guess, context=ctx)


def test_an_earlier_rounds_ciphertext_or_another_silos_input_cannot_be_reclaimed(
    key: ThresholdPublicKey,
) -> None:
    old, old_proof, old_ctx = _input(key, "target", 20, round_id=1)
    # Replayed in round 2 by its own sender, or claimed by a colluder in round 1: refused.
    assert not verify(key, old.ciphertexts, old_proof, context=replace(old_ctx, round_id=2))
    assert not verify(key, old.ciphertexts, old_proof, context=replace(old_ctx, sender="c"))
