"""What a silo checks before it helps decrypt a Paillier aggregate, and the aggregate it rebuilds.

:class:`~fedseal.client.paillier_silo.PaillierSilo` answers a ``DecryptRequest`` only if
:func:`recompute_aggregate` passes: every contribution's signature verifies against the
directory, the senders are distinct silos of the deployment, there are at least
``min_contributions`` of them (never fewer than the key's threshold ``t``, nor 2), this silo's
own contribution (if it sent one) is there unchanged, no two contributions carry the same
ciphertexts, every ciphertext lies in ``Z*_{N^2}`` and every contribution's proof of plaintext
knowledge verifies (:func:`check_proofs`,
:mod:`~fedseal.secagg.paillier.plaintext_proof`). The silo then recomputes the aggregate
itself (:class:`~fedseal.secagg.paillier.CiphertextSum`) rather than trusting the server's.

The proofs are what stop a colluder from submitting ``Enc(-sum of the others)`` (computed from
the ciphertexts the server forwards), an earlier round's ciphertext, or another silo's input
as its own: it knows no plaintext of those (issue 10, ``docs/paillier.md``).

Why these checks: a malicious server could otherwise ask for the decryption of one silo's
ciphertext, or of two sums that differ by one silo and subtract. Each honest silo decrypts one
aggregate per round and only one containing its own input, so two different aggregates need two
disjoint sets of honest decryptors of size ``t - a`` each (``a`` corrupt silos), impossible when
``t > (n + a) / 2`` -- the bound of ``full_parameters`` the dealer used and
:class:`~fedseal.client.paillier_silo.PaillierSilo` re-checks against this silo's own
``corruption`` setting. See ``docs/paillier.md``.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import TYPE_CHECKING

from fedseal.errors import AuthenticationError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.secagg.paillier import (
    CiphertextSum,
    EncryptedVector,
    PackingLayout,
    PlaintextProof,
    ProofContext,
)
from fedseal.secagg.paillier._arith import parallel_map
from fedseal.secagg.paillier.plaintext_proof import verify as verify_proof

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fedseal.secagg.identity import IdentityPublicKey
    from fedseal.secagg.paillier import ThresholdPublicKey

__all__ = ["check_proofs", "recompute_aggregate"]


def recompute_aggregate(
    request: c.DecryptRequest,
    *,
    silo: str,
    deployment_id: str,
    round_id: int,
    layout: PackingLayout,
    own: c.PaillierInput | None,
    directory: Mapping[str, IdentityPublicKey],
    public_key: ThresholdPublicKey,
    min_contributions: int,
    executor: Executor | None,
) -> EncryptedVector:
    """Every check of the module docstring, then the aggregate recomputed here.

    Parameters
    ----------
    request : DecryptRequest
        The server's request, with every contribution to the aggregate.
    silo, deployment_id : str
        This silo and its deployment.
    round_id : int
        The current Paillier round.
    layout : PackingLayout
        The round's packing layout.
    own : PaillierInput, optional
        This silo's own contribution, if it sent one.
    directory : mapping of str to IdentityPublicKey
        Every silo's identity key: who may contribute.
    public_key : ThresholdPublicKey
        The deployment's Paillier public key.
    min_contributions : int
        Fewest contributions whose sum this silo helps decrypt.
    executor : concurrent.futures.Executor, optional
        Spreads the proof checks over cores; None: inline.

    Returns
    -------
    EncryptedVector
        The sum of the contributions' ciphertexts.

    Raises
    ------
    ProtocolViolation
        Naming the first failed check.
    """
    r = round_id
    if request.deployment_id != deployment_id:
        raise ProtocolViolation("decrypt request for another deployment")
    contributions = request.contributions
    if len(contributions) < min_contributions:
        raise ProtocolViolation(
            f"asked to decrypt the sum of {len(contributions)} contributions; this silo "
            f"decrypts only sums of at least {min_contributions}"
        )
    seen: set[str] = set()
    for item in contributions:
        who = item.sender
        if who in seen:
            raise ProtocolViolation(f"the contribution of {who!r} is listed twice")
        seen.add(who)
        if who not in directory:
            raise ProtocolViolation(f"a contribution from {who!r}, not a deployment silo")
        if (item.deployment_id, item.round_id) != (deployment_id, r):
            raise ProtocolViolation(f"the contribution of {who!r} is for another round")
        try:
            directory[who].verify(item.signed_payload(), item.signature)
        except AuthenticationError:
            raise ProtocolViolation(
                f"the signature on the contribution of {who!r} does not verify"
            ) from None
    if own is not None:
        mine = [item for item in contributions if item.sender == silo]
        if not mine:
            raise ProtocolViolation("this silo's own contribution is missing")
        if mine[0] != own:
            raise ProtocolViolation("this silo's own contribution was altered")
    if len({item.ciphertexts for item in contributions}) != len(contributions):
        raise ProtocolViolation("two contributions carry the same ciphertexts")
    total = CiphertextSum(public_key, layout, round_id=r)
    vectors = []
    for item in contributions:
        try:
            vector = EncryptedVector.from_bytes(
                item.ciphertexts, public_key=public_key, key_id=public_key.key_id, round_id=r
            )
            total.add(vector)  # checks every element is in Z*_{N^2} first
        except ProtocolViolation as exc:
            raise ProtocolViolation(f"the contribution of {item.sender!r}: {exc}") from None
        vectors.append(vector)
    check_proofs(public_key, contributions, vectors, executor)
    return total.result()


def check_proofs(
    public_key: ThresholdPublicKey,
    contributions: Sequence[c.PaillierInput],
    vectors: Sequence[EncryptedVector],
    executor: Executor | None,
) -> None:
    """Verify every contribution's proof of plaintext knowledge, on the worker threads.

    Parameters
    ----------
    public_key : ThresholdPublicKey
        The deployment's Paillier public key.
    contributions : sequence of PaillierInput
        The contributions, each with its proof.
    vectors : sequence of EncryptedVector
        Their parsed ciphertexts, in the same order.
    executor : concurrent.futures.Executor, optional
        Spreads the checks over cores; None: inline.

    Raises
    ------
    ProtocolViolation
        Naming the first contribution (in order) whose proof does not parse or verify.
    """

    def check(pair: tuple[c.PaillierInput, EncryptedVector]) -> str | None:
        item, vector = pair
        try:
            proof = PlaintextProof.from_bytes(item.proof, public_key)
        except ProtocolViolation:
            return item.sender
        context = ProofContext(item.deployment_id, item.round_id, item.sender)
        return (
            None
            if verify_proof(public_key, vector.ciphertexts, proof, context=context)
            else (item.sender)
        )

    pairs = list(zip(contributions, vectors, strict=True))
    results = parallel_map(lambda chunk: [check(p) for p in chunk], pairs, executor)
    failed = [who for who in results if who is not None]
    if failed:
        raise ProtocolViolation(
            f"the proof of plaintext knowledge of {failed[0]!r} does not verify"
        )
