"""Paillier aggregation: packed encryption, homomorphic sum, threshold decryption.

The alternative to pairwise masking (DESIGN §4, issue 6). Each silo packs its quantized
contribution (``QuantizationSpec.encode``) into few plaintexts (:class:`PackingLayout`) and
encrypts them under one deployment key with precomputed randomness (:class:`Encryptor`); the
server multiplies ciphertexts (:class:`CiphertextSum`); any ``t`` silos decrypt the aggregate
together (:func:`partial_decrypt`, :func:`combine`), each proving its share was used correctly,
so neither the server nor fewer than ``t`` silos can decrypt anything. The key is made once by a
trusted dealer at provisioning (:func:`generate_threshold_key`).

Scheme: Paillier (EUROCRYPT 1999) with ``g = N + 1``; threshold decryption of Damgård and Jurik
(PKC 2001, §4, s = 1), itself Shoup's threshold RSA (EUROCRYPT 2000); see ``docs/paillier.md``.

Round, in calls::

    layout = PackingLayout.for_spec(spec, dim=dim, public_key=pk)       # before the round
    enc = Encryptor(pk, rng); enc.precompute(layout.count)              # silo, between rounds
    vec = enc.encrypt(spec.encode(x, weight=w, rng=rng), layout, round_id=r)   # silo
    total = CiphertextSum(pk, layout, round_id=r); total.add(vec) ...   # server
    agg = total.result()
    part = partial_decrypt(share, pk, agg, layout=layout, round_id=r, rng=rng)  # each silo
    dec = combine(pk, agg, parts, layout=layout, round_id=r)            # server
    result = decode(spec, layout, dec.plaintexts, dim=dim)              # server
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from fedseal.secagg.paillier.ciphertext import CiphertextSum, EncryptedVector, check_elements
from fedseal.secagg.paillier.dealer import (
    PrimeFactors,
    deal,
    generate_prime_factors,
    generate_threshold_key,
)
from fedseal.secagg.paillier.encrypt import Encryptor
from fedseal.secagg.paillier.keys import MIN_SECURE_KEY_BITS, KeyShare, ThresholdPublicKey
from fedseal.secagg.paillier.packing import PackingLayout
from fedseal.secagg.paillier.plaintext_proof import PlaintextProof, ProofContext
from fedseal.secagg.paillier.proofs import DecryptionProof
from fedseal.secagg.paillier.threshold import (
    Decryption,
    PartialDecryption,
    combine,
    partial_decrypt,
    verify_partial,
)
from fedseal.secagg.quantize import DecodedSum, QuantizationSpec

__all__ = [
    "MIN_SECURE_KEY_BITS",
    "CiphertextSum",
    "Decryption",
    "DecryptionProof",
    "EncryptedVector",
    "Encryptor",
    "KeyShare",
    "PackingLayout",
    "PartialDecryption",
    "PlaintextProof",
    "PrimeFactors",
    "ProofContext",
    "ThresholdPublicKey",
    "check_elements",
    "combine",
    "deal",
    "decode",
    "generate_prime_factors",
    "generate_threshold_key",
    "partial_decrypt",
    "verify_partial",
]


def decode(
    spec: QuantizationSpec,
    layout: PackingLayout,
    plaintexts: tuple[int, ...] | list[int],
    *,
    dim: int,
) -> DecodedSum:
    """Unpack decrypted sums and decode them with ``spec.decode_sum`` (weighted means).

    Raises
    ------
    ProtocolViolation
        If the plaintexts do not unpack (overflowed slots) or do not decode.
    """
    total: npt.NDArray[Any] = layout.unpack(list(plaintexts)).astype(spec.dtype)
    return spec.decode_sum(total, dim=dim)
