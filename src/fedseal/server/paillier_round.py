"""The coordinator's side of ``aggregation = "paillier"``: sum ciphertexts, gather partials.

Theory of operation
-------------------
The server holds only the deployment's public key (Paillier 1999 with ``g = N + 1``; threshold
decryption of Damgård and Jurik 2001 §4 after Shoup 2000). A round, after the train phase of
:mod:`fedseal.server.driver`:

1. **Inputs** (during the train phase): each :class:`~fedseal.protocol.control.PaillierInput`
   is checked before it touches the round (sender = the authenticated silo, deployment and round
   ids, one input per silo, the silo's Ed25519 signature, ciphertexts in ``Z*_{N^2}`` and not
   a copy of another silo's, and the sender's proof of plaintext knowledge bound to this
   deployment, round and sender) and then multiplied into a
   :class:`~fedseal.secagg.paillier.CiphertextSum` at once, so memory is one aggregate
   whatever the number of silos. The signed bytes are kept for step 2. A silo that
   sent nothing is simply not in the sum: dropouts cost nothing.
2. **Decrypt**: one :class:`~fedseal.protocol.control.DecryptRequest` with every contribution
   goes to every contributor; each silo re-checks the contributions and recomputes the aggregate
   itself (:mod:`fedseal.client.paillier_silo`), so the server cannot get anything else
   decrypted. Partial decryptions are collected until every contributor answered or
   ``stage_timeout_s``; each is verified on arrival (its proof, and that its index is the
   sender's share index); a bad one is excluded and reported as a dropout with the reason.
3. **Combine**: with at least ``t`` valid partials, :func:`~fedseal.secagg.paillier.combine`
   recovers the packed sums, which are unpacked into the integer vector the driver decodes.

:class:`PaillierRound` (steps 1-3 as state and checks) and
:class:`~fedseal.server.paillier_session.PaillierSession` (the round as
``protocol/round_control.py``'s ``AggregationSession``) are sans-IO. Proof checks and the
combination are :class:`~fedseal.protocol.round_events.Work` that the pump runs on worker
threads, one at a time, so that the event loop keeps serving the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.paillier import (
    CiphertextSum,
    Decryption,
    DecryptionProof,
    EncryptedVector,
    PackingLayout,
    PartialDecryption,
    PlaintextProof,
    ProofContext,
    combine,
    verify_partial,
)
from fedseal.secagg.paillier.plaintext_proof import verify as verify_proof
from fedseal.secagg.quantize import QuantizationSpec

if TYPE_CHECKING:
    from fedseal.deploy.paillier_keys import DeploymentKey

__all__ = ["DECRYPT_STAGE", "PaillierAggregator", "PaillierRound"]

#: The stage name of the decryption phase in dropout records and audit entries.
DECRYPT_STAGE = "decrypt"


class PaillierAggregator:
    """The deployment's Paillier setup on the server: key, packing layout, worker threads.

    Parameters
    ----------
    key : DeploymentKey
        Public key and share holders (``paillier-public.json``).
    directory : mapping of str to IdentityPublicKey
        The admitted silos' identity keys; each must hold a share of ``key``.
    deployment_id : str
    spec : QuantizationSpec
        The deployment's quantization; with ``dim`` it fixes the packing layout.
    dim : int
        Number of model parameters.
    executor : concurrent.futures.Executor, optional
        Spreads the combination over cores; owned by the caller (:mod:`fedseal.server.app`
        makes a thread pool and shuts it down). None: inline.

    Raises
    ------
    ConfigError
        If an admitted silo holds no share, or ``spec`` does not pack under the key.
    """

    def __init__(
        self,
        key: DeploymentKey,
        directory: Mapping[str, IdentityPublicKey],
        *,
        deployment_id: str,
        spec: QuantizationSpec,
        dim: int,
        executor: Executor | None = None,
    ) -> None:
        for silo in sorted(directory):
            key.index_of(silo)
        self.key = key
        self.deployment_id = deployment_id
        self.spec = spec
        self.layout = PackingLayout.for_spec(spec, dim=dim, public_key=key.public_key)
        self.directory = dict(directory)
        self.executor = executor

    @property
    def threshold(self) -> int:
        """``t``: valid partial decryptions needed."""
        return self.key.public_key.threshold

    def new_round(self, round_id: int) -> PaillierRound:
        """The state of round ``round_id``."""
        return PaillierRound(self, round_id)

    def close(self) -> None:
        """Nothing to release: the executor's owner shuts it down."""


class PaillierRound:
    """One round's inputs, aggregate and partial decryptions (sans-IO). See the module doc."""

    def __init__(self, setup: PaillierAggregator, round_id: int) -> None:
        self.setup = setup
        self.round_id = round_id
        self._sum = CiphertextSum(setup.key.public_key, setup.layout, round_id=round_id)
        self._inputs: dict[str, c.PaillierInput] = {}
        self._aggregate: EncryptedVector | None = None

    @property
    def contributors(self) -> tuple[str, ...]:
        """Silos whose input is in the sum, sorted."""
        return tuple(sorted(self._inputs))

    def add_input(self, silo: str, message: c.PaillierInput) -> None:
        """Check ``message`` from the authenticated ``silo`` and add it to the sum.

        Raises
        ------
        ProtocolViolation
            Naming the failed check; the round is unchanged.
        """
        setup, public = self.setup, self.setup.key.public_key
        if self._aggregate is not None:
            raise ProtocolViolation("input after the decryption request was sent")
        if message.sender != silo:
            raise ProtocolViolation(f"input names sender {message.sender!r}")
        if (message.deployment_id, message.round_id) != (setup.deployment_id, self.round_id):
            raise ProtocolViolation("input for another deployment or round")
        if silo in self._inputs:
            raise ProtocolViolation("a second input in the round")
        identity = setup.directory.get(silo)
        if identity is None:
            raise ProtocolViolation("input from a silo outside the directory")
        try:
            identity.verify(message.signed_payload(), message.signature)
        except AuthenticationError:
            raise ProtocolViolation("the input's signature does not verify") from None
        if any(other.ciphertexts == message.ciphertexts for other in self._inputs.values()):
            raise ProtocolViolation("the same ciphertexts as another silo's input")
        vector = EncryptedVector.from_bytes(
            message.ciphertexts, public_key=public, key_id=public.key_id, round_id=self.round_id
        )
        # A sender must know what it encrypted: an input derived from other silos'
        # ciphertexts, an old round's, or another silo's has no proof (docs/paillier.md).
        # The proof is checked first because add() changes the running sum; add() then checks
        # every element (range, unit, count), so an input is taken only if both hold.
        proof = PlaintextProof.from_bytes(message.proof, public)
        context = ProofContext(setup.deployment_id, self.round_id, silo)
        if not verify_proof(public, vector.ciphertexts, proof, context=context):
            raise ProtocolViolation("the proof of plaintext knowledge does not verify")
        self._sum.add(vector)  # checks the elements; unchanged on error
        self._inputs[silo] = message

    def decrypt_request(self) -> c.DecryptRequest:
        """Freeze the sum and return the request every contributor gets.

        Raises
        ------
        RoundAbortedError
            If fewer than ``t`` silos contributed (no silo would decrypt their sum).
        """
        t = self.setup.threshold
        if len(self._inputs) < t:
            raise RoundAbortedError(
                f"only {len(self._inputs)} Paillier inputs; the key's threshold is {t}"
            )
        if self._aggregate is None:
            self._aggregate = self._sum.result()
        contributions = tuple(self._inputs[s] for s in self.contributors)
        return c.DecryptRequest(self.setup.deployment_id, self.round_id, contributions)

    def check_partial(self, silo: str, message: c.PartialDecryptionShare) -> PartialDecryption:
        """Verify ``silo``'s partial decryption of the aggregate (pure: runs in a thread).

        Raises
        ------
        ProtocolViolation
            If it is malformed, not the sender's share index, or its proof does not verify.
        """
        setup, aggregate = self.setup, self._aggregate
        public = setup.key.public_key
        if aggregate is None:
            raise ProtocolViolation("partial decryption before the decryption request")
        if message.sender != silo:
            raise ProtocolViolation(f"partial decryption names sender {message.sender!r}")
        if (message.deployment_id, message.round_id) != (setup.deployment_id, self.round_id):
            raise ProtocolViolation("partial decryption for another deployment or round")
        try:
            index = setup.key.index_of(silo)
        except ConfigError:
            raise ProtocolViolation("partial decryption from a silo without a share") from None
        if message.index != index:
            raise ProtocolViolation(f"partial decryption claims share {message.index}")
        width = public.ciphertext_bytes
        if len(message.values) != width * setup.layout.count:
            raise ProtocolViolation(
                f"partial decryption has {len(message.values)} bytes, expected "
                f"{width * setup.layout.count}"
            )
        if len(message.response) > width + public.delta.bit_length() // 8 + 64:
            raise ProtocolViolation("partial decryption proof response is too long")
        values = tuple(
            int.from_bytes(message.values[i : i + width], "big")
            for i in range(0, len(message.values), width)
        )
        partial = PartialDecryption(
            key_id=public.key_id,
            round_id=self.round_id,
            index=index,
            values=values,
            proof=DecryptionProof(
                challenge=bytes(message.challenge),
                response=int.from_bytes(message.response, "big"),
            ),
        )
        verify_partial(public, aggregate, partial, layout=setup.layout, round_id=self.round_id)
        return partial

    def combine(self, partials: list[PartialDecryption]) -> tuple[npt.NDArray[Any], Decryption]:
        """Combine ``t`` valid partials and unpack: the summed integer vector (``spec.dtype``).

        Raises
        ------
        RoundAbortedError
            With fewer than ``t`` valid partials.
        ProtocolViolation
            If the decrypted sums overflow their slots (a silo encoded out-of-range values).
        """
        setup, aggregate = self.setup, self._aggregate
        if aggregate is None:
            raise RoundAbortedError("nothing to combine: no decryption request was sent")
        t = setup.threshold
        decryption = combine(
            setup.key.public_key,
            aggregate,
            partials[:t],
            layout=setup.layout,
            round_id=self.round_id,
            executor=setup.executor if setup.layout.count > 1 else None,
        )
        total = setup.layout.unpack(list(decryption.plaintexts)).astype(setup.spec.dtype)
        return total, decryption
