"""Paillier aggregation round: packed encryption, homomorphic sum, threshold decryption.

Simulates one round with ``--clients`` silos on this machine. Every silo's work is timed on its
own (as if each silo were its own machine) and the round's critical path is reported as
``round_seconds = max(encrypt and prove) + aggregate (with the server's proof checks) +
max(silo's check of every proof) + max(partial decrypt) + combine``. Key generation
and the randomness precomputed between rounds are reported separately, never hidden in or left
out of the figures: ``keygen_seconds`` and ``precompute_seconds``. ``unpacked_estimate_seconds``
is ``phe``'s per-value encryption (measured on a sample) scaled to the vector length: the cost of
not packing. Speed targets are checked here, not in unit tests (issue 6: ``round_seconds`` <= 30
and >= 30x below the unpacked estimate, 2048-bit keys).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fedseal.bench.common import Stopwatch, machine_info, peak_rss_mb
from fedseal.errors import ConfigError

__all__ = ["add_arguments", "run"]

ROUND_DEFINITION = (
    "critical path with silos in parallel, each silo timed on its own: max over silos of "
    "(encode+pack+encrypt+proof of plaintext knowledge) + server proof checks and homomorphic "
    "sum + max over the t decrypting silos of (checking every contribution's proof + partial "
    "decryption + proof) + server verification and combination + unpack/decode; "
    "excludes keygen (provisioning) and precompute (between rounds), reported separately"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this benchmark's options to ``parser``."""
    parser.add_argument("--clients", type=int, default=10, help="number of silos (default 10)")
    parser.add_argument("--dim", type=int, default=100_000, help="update length (default 100000)")
    parser.add_argument(
        "--threshold", type=int, default=None, help="silos needed to decrypt (default 2n/3+1)"
    )
    parser.add_argument("--key-bits", type=int, default=2048, choices=(2048, 3072))
    parser.add_argument("--bits", type=int, default=16, help="quantization bits (default 16)")
    parser.add_argument(
        "--max-weight", type=int, default=1000, help="largest silo weight (default 1000)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="threads per silo for the big exponentiations (default: all cores)",
    )
    parser.add_argument(
        "--sample", type=int, default=20, help="values encrypted one by one for the estimate"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one simulated round and return its figures."""
    # Imported here, not at the top: ``fedseal --help`` imports this module, and a command's
    # module imports only the standard library until the command runs.
    import numpy as np

    from fedseal.secagg.hazmat.randomness import SystemRandomSource
    from fedseal.secagg.paillier import (
        CiphertextSum,
        Encryptor,
        PackingLayout,
        ProofContext,
        combine,
        decode,
        generate_threshold_key,
        partial_decrypt,
    )
    from fedseal.secagg.paillier._arith import parallel_map, random_unit
    from fedseal.secagg.paillier.plaintext_proof import commitment_randomness
    from fedseal.secagg.paillier.plaintext_proof import prove as prove_proof
    from fedseal.secagg.paillier.plaintext_proof import verify as verify_proof
    from fedseal.secagg.quantize import QuantizationSpec, fits_modulus

    n, dim = args.clients, args.dim
    t = args.threshold if args.threshold is not None else (2 * n) // 3 + 1
    if n < 1 or dim < 1 or not 1 <= t <= n or args.workers < 1:
        raise ConfigError("need clients >= 1, dim >= 1, 1 <= threshold <= clients, workers >= 1")
    rng = SystemRandomSource()
    sw = Stopwatch()
    with sw("keygen"):
        pk, shares = generate_threshold_key(key_bits=args.key_bits, parties=n, threshold=t, rng=rng)
    bound = {"max_silos": n, "max_weight": args.max_weight, "bits": args.bits}
    spec = QuantizationSpec(
        clip=1.0,
        bits=args.bits,
        max_weight=args.max_weight,
        max_silos=n,
        num_metrics=2,
        modulus_bits=32 if fits_modulus(**bound, modulus_bits=32) else 64,
    )
    layout = PackingLayout.for_spec(spec, dim=dim, public_key=pk)
    data = np.random.default_rng(0)  # non-secret synthetic updates
    updates = [data.normal(0.0, 0.3, dim) for _ in range(n)]
    weights = [int(w) for w in data.integers(1, args.max_weight + 1, n)]
    metrics = [data.uniform(0.0, 10.0, 2) for _ in range(n)]

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        encryptors, precompute = [], []
        for _ in range(n):
            enc = Encryptor(pk, rng)
            start = time.perf_counter()
            enc.precompute(layout.count, executor=pool)
            precompute.append(time.perf_counter() - start)
            encryptors.append(enc)
        pool_bytes = encryptors[0].precomputed_bytes

        vectors, proofs, contexts = [], [], []
        encrypt, prove, expected = [], [], np.zeros(layout.length, dtype=np.uint64)
        for i, enc in enumerate(encryptors):
            start = time.perf_counter()
            encoded = spec.encode(updates[i], weight=weights[i], metrics=metrics[i], rng=rng)
            context = ProofContext("bench", 1, f"silo-{i}")
            vector, proof = enc.encrypt_and_prove(encoded, layout, context=context)
            encrypt.append(time.perf_counter() - start)
            vectors.append(vector)
            proofs.append(proof)
            contexts.append(context)
            expected += encoded.astype(np.uint64)
        # The proof's share of that: the same work again on stand-in witnesses (timing only),
        # with its s^N precomputed as the encryptor's pool does.
        plain = layout.pack(expected.astype(np.uint64) // n)
        rs = [random_unit(pk.n, rng) for _ in range(len(plain))]
        pair = commitment_randomness(pk, rng)
        start = time.perf_counter()
        prove_proof(
            pk, vectors[0].ciphertexts, plain, rs, context=contexts[0], rng=rng,
            commitment_pair=pair,
        )  # fmt: skip
        prove.append(time.perf_counter() - start)

        def check(i: int) -> bool:
            return verify_proof(pk, vectors[i].ciphertexts, proofs[i], context=contexts[i])

        with sw("aggregate"):
            total = CiphertextSum(pk, layout, round_id=1)
            for i, vec in enumerate(vectors):
                if not check(i):  # the server checks each input's proof on arrival
                    raise RuntimeError("an honest proof did not verify")
                total.add(vec)
            aggregate = total.result()

        # Every decrypting silo checks every contribution's proof, on its worker threads.
        start = time.perf_counter()
        checked = parallel_map(lambda chunk: [check(i) for i in chunk], list(range(n)), pool)
        silo_verify = time.perf_counter() - start
        if not all(checked):
            raise RuntimeError("an honest proof did not verify")

        partials, partial_wall, partial_cpu = [], [], []
        for share in shares[:t]:  # the t silos the server needs; every silo's work is the same
            start, cpu = time.perf_counter(), time.process_time()
            partials.append(
                partial_decrypt(
                    share, pk, aggregate, layout=layout, round_id=1, rng=rng, executor=pool
                )
            )
            partial_wall.append(time.perf_counter() - start)
            partial_cpu.append(time.process_time() - cpu)

        cpu = time.process_time()
        with sw("combine"):
            decryption = combine(pk, aggregate, partials, layout=layout, round_id=1, executor=pool)
            result = decode(spec, layout, decryption.plaintexts, dim=dim)
        combine_cpu = time.process_time() - cpu

    summed = layout.unpack(list(decryption.plaintexts))
    if not np.array_equal(summed, expected):
        raise RuntimeError("decrypted sum differs from the plaintext quantized sum")
    w = np.asarray(weights, dtype=np.float64)
    clipped = np.clip(np.stack(updates), -spec.clip, spec.clip)
    true_mean = (w[:, None] * clipped).sum(axis=0) / w.sum()

    sample = [int(x) for x in expected[: max(1, args.sample)]]
    start = time.perf_counter()
    for x in sample:
        pk.paillier.encrypt(x)
    per_value = (time.perf_counter() - start) / len(sample)

    round_seconds = max(encrypt) + sw.seconds["aggregate"] + silo_verify + max(partial_wall)
    round_seconds += sw.seconds["combine"]
    unpacked = per_value * layout.length
    proof_bytes = max(len(p.proof.to_bytes()) for p in partials)
    return {
        "benchmark": "paillier",
        "clients": n,
        "dim": dim,
        "threshold": t,
        "key_bits": pk.key_bits,
        "quantization_bits": spec.bits,
        "max_weight": spec.max_weight,
        "workers_per_silo": args.workers,
        "slot_bits": layout.slot_bits,
        "slots_per_ciphertext": layout.slots_per_plaintext,
        "ciphertexts_per_client": layout.count,
        "round_seconds": round_seconds,
        "round_seconds_definition": ROUND_DEFINITION,
        "client_encrypt_seconds": max(encrypt),
        "prove_seconds": max(prove),
        "verify_seconds_per_silo": silo_verify,
        "proof_bytes_per_silo": len(proofs[0].to_bytes(pk)),
        "server_aggregate_seconds": sw.seconds["aggregate"],
        "partial_decrypt_seconds": max(partial_wall),
        "partial_decrypt_cpu_seconds": max(partial_cpu),
        "combine_seconds": sw.seconds["combine"],
        "combine_cpu_seconds": combine_cpu,
        "decrypt_seconds": max(partial_wall) + sw.seconds["combine"],
        "round_cpu_seconds_one_core": max(encrypt)
        + sw.seconds["aggregate"]
        + max(partial_cpu)
        + combine_cpu,
        "keygen_seconds": sw.seconds["keygen"],
        "precompute_seconds": max(precompute),
        "precompute_seconds_all_clients": sum(precompute),
        "precompute_values_per_client": layout.count,
        "precompute_bytes_per_client": pool_bytes,
        "unpacked_per_value_seconds": per_value,
        "unpacked_estimate_seconds": unpacked,
        "speedup_vs_unpacked": unpacked / round_seconds,
        "max_abs_error": float(np.max(np.abs(result.mean - true_mean))),
        "error_bound": spec.mean_error_bound(),
        "bytes_up_per_client": len(vectors[0].to_bytes(pk)) + len(proofs[0].to_bytes(pk)) + 72,
        "bytes_partial_decryption_per_client": layout.count * pk.ciphertext_bytes + proof_bytes,
        "partials_rejected": len(decryption.rejected),
        "peak_rss_mb": peak_rss_mb(),
        **machine_info(),
    }
