"""The silo's side of ``aggregation = "paillier"``: encrypt, and decrypt only what is safe.

Theory of operation
-------------------
One :class:`PaillierSilo` lives as long as the silo's agent. It holds the deployment's public
key, this silo's key share (:class:`~fedseal.secagg.paillier.KeyShare`) and one
:class:`~fedseal.secagg.paillier.Encryptor`, whose pool of precomputed ``r^N mod N^2``
(Paillier 1999; Damgård–Jurik 2001) is refilled on the injected executor once the silo has
answered its round, outside the round's critical path (without an executor everything runs
inline and ``r^N`` is made during encryption: this object creates no thread). Per round:

1. :meth:`begin` (the agent accepted a ``TrainRequest``): fixes the round id and the packing
   layout; the previous round's state is dropped.
2. :meth:`contribute`: packs and encrypts the encoded vector, proves knowledge of every
   plaintext (:mod:`~fedseal.secagg.paillier.plaintext_proof`, bound to deployment, round,
   sender and key) and signs ``(deployment, round, sender, SHA-256(ciphertexts),
   SHA-256(proof))`` with the silo's Ed25519 identity key.
3. :meth:`decrypt` (the server's ``DecryptRequest``): answers **at most once per round**, and
   only if the request passes every check of :mod:`~fedseal.client.paillier_checks` (signed
   contributions from distinct silos, at least :attr:`min_contributions` of them, this silo's
   own unchanged, no repeated ciphertexts, every proof of plaintext knowledge valid). The silo
   then recomputes the aggregate itself and returns its partial decryption with the proof of
   Shoup 2000 / Damgård–Jurik 2001 §4.1.

Why this is safe -- one decryption per round, of a sum containing this silo's input, with a key
threshold ``t > (n + a) / 2`` that :meth:`__init__` re-checks against this silo's own
``corruption`` setting -- is in :mod:`~fedseal.client.paillier_checks` and ``docs/paillier.md``.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from fedseal.client.paillier_checks import recompute_aggregate
from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.policy import ClientPolicy
from fedseal.secagg.graph import full_parameters
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.paillier import (
    Encryptor,
    KeyShare,
    PackingLayout,
    ProofContext,
    partial_decrypt,
)
from fedseal.secagg.quantize import QuantizationSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy.typing as npt

    from fedseal.deploy.paillier_keys import DeploymentKey

__all__ = ["PaillierSilo"]

log = logging.getLogger("fedseal.client")


@dataclass
class _Round:
    round_id: int
    layout: PackingLayout
    own: c.PaillierInput | None = None
    answered: bool = False


class PaillierSilo:
    """One silo's Paillier state for the deployment's life. See the module docstring.

    Parameters
    ----------
    silo : str
        This silo's name.
    deployment_id : str
    identity_key : IdentityKey
        Signs this silo's contributions.
    directory : mapping of str to IdentityPublicKey
        Every silo's identity key: who may contribute.
    key : DeploymentKey
        The deployment's public key and who holds which share.
    share : KeyShare
        This silo's share (checked to be share ``key.index_of(silo)``).
    policy : ClientPolicy
        ``corruption`` (of the roster) and ``min_participants`` bound what this silo accepts.
    rng : RandomSource
        Encryption randomness and proof nonces (``SystemRandomSource`` in a deployment).
    executor : concurrent.futures.Executor, optional
        Runs the ``r^N`` refill in the background and spreads partial decryption and proof
        checks over cores; owned by the caller (:func:`fedseal.client.run.make_paillier` makes
        a thread pool and the silo process ends it). None: all inline, one core.

    Raises
    ------
    ConfigError
        If the share does not belong to the key or this silo, the key's parties differ from
        the directory, or the key's threshold is below what this silo's ``corruption`` needs.

    Warnings
    --------
    Holds the key share and the encryption randomness: never log, pickle or copy this object.
    """

    def __init__(
        self,
        *,
        silo: str,
        deployment_id: str,
        identity_key: IdentityKey,
        directory: Mapping[str, IdentityPublicKey],
        key: DeploymentKey,
        share: KeyShare,
        policy: ClientPolicy,
        rng: RandomSource,
        executor: Executor | None = None,
    ) -> None:
        public = key.public_key
        if share.key_id != public.key_id or share.index != key.index_of(silo):
            raise ConfigError(f"the Paillier key share is not silo {silo!r}'s share of this key")
        unknown = sorted(set(key.parties) - set(directory))
        if unknown:
            raise ConfigError(f"the Paillier key names {unknown[0]!r}, which is not a silo")
        needed = full_parameters(len(directory), corrupt=policy.corrupt(len(directory))).threshold
        if public.threshold < needed:
            raise ConfigError(
                f"the Paillier key's threshold {public.threshold} is below {needed}, the "
                f"smallest this silo accepts for {len(directory)} silos at corruption "
                f"{policy.corruption}; re-deal the key"
            )
        self.silo = silo
        self.deployment_id = deployment_id
        self.key = key
        self._identity = identity_key
        self._directory = dict(directory)
        self._share = share
        self._rng = rng
        self._encryptor = Encryptor(public, rng)
        #: Fewest contributions whose sum this silo helps decrypt (STYLE rule 5).
        self.min_contributions = max(public.threshold, policy.min_participants, 2)
        self._pool = executor
        self._refill: Future[None] | None = None
        self._round: _Round | None = None

    # -- the round ----------------------------------------------------------------------------

    def begin(self, round_id: int, spec: QuantizationSpec, *, dim: int) -> None:
        """Start round ``round_id`` (a ``TrainRequest`` was accepted); forget the previous one.

        Raises
        ------
        ConfigError
            If ``spec`` cannot be packed under this key (slots wider than 64 bits).
        """
        self._round = None
        layout = PackingLayout.for_spec(spec, dim=dim, public_key=self.key.public_key)
        self._round = _Round(round_id, layout)
        # Normally the pool was refilled after the last round's answer; if not (first round,
        # or the silo was not asked to decrypt), refill it while the app trains.
        self._start_refill(layout.count)

    def in_round(self, round_id: int) -> bool:
        """Whether this silo is in Paillier round ``round_id``."""
        return self._round is not None and self._round.round_id == round_id

    def end_round(self) -> None:
        """Abandon the current round (the connection broke)."""
        self._round = None

    def contribute(self, encoded: npt.NDArray[Any]) -> c.PaillierInput:
        """Encrypt this round's encoded contribution and sign it.

        Raises
        ------
        ConfigError
            If no round was begun, or ``encoded`` does not fit the round's layout.
        """
        state = self._round
        if state is None:
            raise ConfigError("contribute() before begin()")
        self._wait_for_refill()
        context = ProofContext(self.deployment_id, state.round_id, self.silo)
        vector, proof = self._encryptor.encrypt_and_prove(encoded, state.layout, context=context)
        public = self.key.public_key
        blob, proof_blob = vector.to_bytes(public), proof.to_bytes(public)
        payload = c.paillier_input_payload(
            self.deployment_id, state.round_id, self.silo, blob, proof_blob
        )
        own = c.PaillierInput(
            self.deployment_id,
            state.round_id,
            self.silo,
            blob,
            proof_blob,
            self._identity.sign(payload),
        )
        state.own = own
        return own

    def decrypt(self, request: c.DecryptRequest) -> c.PartialDecryptionShare:
        """Check ``request`` and answer this silo's partial decryption of the aggregate.

        Whatever the outcome, this silo does not decrypt again in this round.

        Raises
        ------
        ProtocolViolation
            Naming the first failed check (see the module docstring).
        """
        state = self._round
        if state is None or request.round_id != state.round_id:
            raise ProtocolViolation(f"no Paillier round {request.round_id} on this silo")
        if state.answered:
            raise ProtocolViolation(
                f"a second decrypt request in round {state.round_id}; a silo decrypts once"
            )
        state.answered = True
        public = self.key.public_key
        aggregate = recompute_aggregate(
            request,
            silo=self.silo,
            deployment_id=self.deployment_id,
            round_id=state.round_id,
            layout=state.layout,
            own=state.own,
            directory=self._directory,
            public_key=public,
            min_contributions=self.min_contributions,
            executor=self._pool,
        )
        partial = partial_decrypt(
            self._share,
            public,
            aggregate,
            layout=state.layout,
            round_id=state.round_id,
            rng=self._rng,
            executor=self._pool if state.layout.count > 1 else None,
        )
        self._start_refill(state.layout.count)
        width = public.ciphertext_bytes
        response = partial.proof.response
        return c.PartialDecryptionShare(
            self.deployment_id,
            state.round_id,
            self.silo,
            partial.index,
            b"".join(v.to_bytes(width, "big") for v in partial.values),
            partial.proof.challenge,
            response.to_bytes((response.bit_length() + 7) // 8, "big"),
        )

    # -- precomputation -----------------------------------------------------------------------

    def _start_refill(self, count: int) -> None:
        """Precompute ``count`` values of ``r^N`` on the executor, if none is running."""
        missing = count - self._encryptor.precomputed
        if self._pool is None:
            return  # no executor: encryption makes what it needs
        if missing > 0 and (self._refill is None or self._refill.done()):
            self._refill = self._pool.submit(self._encryptor.precompute, missing)

    def _wait_for_refill(self) -> None:
        if self._refill is not None:
            self._refill.result()
            self._refill = None

    @property
    def precomputed(self) -> int:
        """Unused precomputed ``r^N`` values."""
        return self._encryptor.precomputed

    @property
    def generated_online(self) -> int:
        """``r^N`` values that had to be made during encryption (the pool ran dry)."""
        return self._encryptor.generated_online

    def close(self) -> None:
        """The deployment ended: wait for no refill (the executor's owner shuts it down)."""
        self._refill = None
        self._round = None

    def __repr__(self) -> str:
        return f"PaillierSilo(silo={self.silo!r}, key_id={self.key.public_key.key_id.hex()[:16]})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("PaillierSilo holds a key share and must not be pickled")
