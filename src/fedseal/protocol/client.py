"""The silo's side of one secure-aggregation round, as a sans-IO state machine.

Theory of operation
-------------------
A :class:`ClientSession` runs exactly one round of the malicious-server protocol of Bonawitz et
al. (CCS 2017, §4 and Fig. 4), restricted to graph neighbours as in SecAgg+ (Bell et al. 2020).
It never touches a socket, a clock or a global RNG: the transport hands it messages from the
server with :meth:`ClientSession.receive` and sends whatever it returns; randomness comes from
the injected :class:`~fedseal.secagg.hazmat.randomness.RandomSource`.

Stages and the one message each accepts (anything else is a :class:`ProtocolViolation` and the
session ends in ``ABORTED``; an :class:`AbortRound` from the server also ends it)::

    NEW          --BeginRound-->          ADVERTISED   (judge params by the policy, sign keys)
    ADVERTISED   --KeyDirectory-->        SHARED       (verify signatures, share and commit)
    SHARED       --ShareDelivery-->       MASKED       (decrypt and check shares, mask input)
    MASKED       --ConsistencyRequest-->  SIGNED       (sign U3 once)
    SIGNED       --UnmaskRequest-->       DONE         (answer once per model: b- XOR s-shares)

What the silo signs (key advertisement, share commitments, consistency answer) binds the round
digest: the ``TrainRequest`` this silo was sent and the round's parameters, so a neighbour that
was shown another model or other parameters produces signatures this silo refuses. The round's
parameters are judged against the silo's own :class:`~fedseal.protocol.policy.ClientPolicy`
before anything is sent. A share whose ciphertext fails authentication or does not match its
dealer's commitment is *rejected*, not fatal: this silo holds nothing for that dealer, still
masks with it, and names it in its masked input, so one malicious silo cannot abort the round.

This module holds the stages and the transition table; each stage's checks and answer are in
:mod:`~fedseal.protocol.client_round` (NEW), :mod:`~fedseal.protocol.client_masking`
(ADVERTISED, SHARED) and :mod:`~fedseal.protocol.client_unmasking` (MASKED, SIGNED).

Every check runs before any state changes. The secrets (``b``, ``s_sk``, ``c_sk``, the shares
held for others) live only in this object's round state and are dropped when the round ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client_masking import mask, share_keys
from fedseal.protocol.client_round import ClientRound, advertisement, check_vector, open_round
from fedseal.protocol.client_unmasking import answer_unmask, sign_survivors
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.release import MemoryReleaseLedger, ReleaseLedger
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["ClientPolicy", "ClientSession", "ClientStage"]  # ClientPolicy: re-exported


class ClientStage(Enum):
    """Where the silo is in the round."""

    NEW = "new"
    ADVERTISED = "advertised"
    SHARED = "shared"
    MASKED = "masked"
    SIGNED = "signed"
    DONE = "done"
    ABORTED = "aborted"


class ClientSession:
    """One silo, one round. See the module docstring for the stages.

    Parameters
    ----------
    silo_id : str
        This silo's name, as in its certificate.
    deployment_id : str
        The deployment this silo belongs to; rounds of any other deployment are refused.
    identity_key : IdentityKey
        The silo's long-term Ed25519 key.
    directory : mapping of str to IdentityPublicKey
        Identity keys of every silo of the deployment (from provisioning).
    rng : RandomSource
        Source of all randomness of the round.
    train_digest : bytes
        Digest of the ``TrainRequest`` this silo was sent for the round
        (:meth:`fedseal.protocol.control.TrainRequest.digest`); bound into every signature.
    model_digest : bytes, optional
        Digest of the global weights the silo trained from
        (:func:`fedseal.protocol.release.model_digest`); ``None`` means ``train_digest``.
    policy : ClientPolicy
        Security requirements the server's parameters must meet.
    last_round : int
        Highest round id this silo already took part in; older or equal rounds are refused.
    releases : ReleaseLedger, optional
        Models this silo already answered an unmask request on (at most one answer per model).
        Defaults to a fresh in-memory ledger, which protects only this session.

    Warnings
    --------
    A deployment must pass a durable ``releases`` ledger shared by all the silo's sessions:
    with a fresh one per session, a server can difference sums over several rounds on one
    model (``docs/secagg.md``).
    """

    def __init__(
        self,
        *,
        silo_id: str,
        deployment_id: str,
        identity_key: IdentityKey,
        directory: Mapping[str, IdentityPublicKey],
        rng: RandomSource,
        train_digest: bytes,
        model_digest: bytes | None = None,
        policy: ClientPolicy | None = None,
        last_round: int = -1,
        releases: ReleaseLedger | None = None,
    ) -> None:
        if silo_id not in directory or directory[silo_id] != identity_key.public_key:
            raise ConfigError(f"silo {silo_id!r} is not in the directory with this identity key")
        if len(train_digest) != 32 or (model_digest is not None and len(model_digest) != 32):
            raise ConfigError("train_digest and model_digest must be 32-byte SHA-256 digests")
        self._train_digest = bytes(train_digest)
        self._model_digest = bytes(model_digest if model_digest is not None else train_digest)
        self._releases: ReleaseLedger = releases if releases is not None else MemoryReleaseLedger()
        self.silo_id = silo_id
        self.deployment_id = deployment_id
        self._identity = identity_key
        self._directory = dict(directory)
        self._rng = rng
        self._policy = policy or ClientPolicy()
        self._last_round = last_round
        self.stage = ClientStage.NEW
        self._round: ClientRound | None = None
        self._input: npt.NDArray[Any] | None = None
        self._handlers: dict[tuple[ClientStage, type], Callable[[Any], list[m.Message]]] = {
            (ClientStage.NEW, m.BeginRound): self._on_begin,
            (ClientStage.ADVERTISED, m.KeyDirectory): self._on_directory,
            (ClientStage.SHARED, m.ShareDelivery): self._on_shares,
            (ClientStage.MASKED, m.ConsistencyRequest): self._on_consistency,
            (ClientStage.SIGNED, m.UnmaskRequest): self._on_unmask,
        }

    # -- public API ---------------------------------------------------------------------------

    @property
    def params(self) -> m.RoundParams | None:
        """The round's parameters once :class:`BeginRound` was accepted."""
        return self._round.params if self._round else None

    def provide_input(self, encoded: npt.NDArray[Any]) -> None:
        """Set the encoded contribution; must happen before the shares are delivered.

        The array is kept by reference, not copied, and only read: the masked input is written
        into a new array when the shares arrive, so ``encoded`` itself is never modified.

        Warnings
        --------
        Do not modify ``encoded`` until this session has sent its masked input: the values it
        holds when the shares arrive are the ones masked and summed.
        """
        if self._input is not None:
            raise ConfigError("the input was already provided for this round")
        if self.stage not in (ClientStage.NEW, ClientStage.ADVERTISED, ClientStage.SHARED):
            raise ConfigError(f"input must be provided before masking, stage is {self.stage.value}")
        if self._round is not None:
            check_vector(encoded, self._round.params)
        self._input = np.asarray(encoded)

    def receive(self, message: m.Message) -> list[m.Message]:
        """Process one message from the server and return the messages to send back.

        Raises
        ------
        ProtocolViolation
            The server sent something the protocol forbids; the session is now ``ABORTED``.
        RoundAbortedError
            The round cannot continue safely (or the server aborted it); ``ABORTED``.

        Any other exception also leaves the session ``ABORTED`` (its secrets dropped) before it
        propagates: a session is never left half-way through a transition.
        """
        if self.stage in (ClientStage.DONE, ClientStage.ABORTED):
            raise ProtocolViolation(f"round already ended ({self.stage.value}); message refused")
        if isinstance(message, m.AbortRound):
            self._abort()
            raise RoundAbortedError(f"server aborted the round: {message.reason}")
        handler = self._handlers.get((self.stage, type(message)))
        try:
            if handler is None:
                raise ProtocolViolation(
                    f"unexpected {type(message).__name__} in stage {self.stage.value}"
                )
            if not isinstance(message, m.BeginRound):
                self._check_round(message)
            return handler(message)
        except BaseException:  # any exception ends the round and drops its secrets (h11)
            self._abort()
            raise

    # -- helpers ------------------------------------------------------------------------------

    def _abort(self) -> None:
        self.stage = ClientStage.ABORTED
        self._round = None  # drop every secret of the round
        self._input = None

    def _check_round(self, message: Any) -> None:
        assert self._round is not None
        ctx = self._round.context
        if (message.deployment_id, message.round_id) != ctx.fields():
            raise ProtocolViolation("message belongs to another round or deployment")

    # -- stage handlers (the checks: client_round, client_masking, client_unmasking) ----------

    def _on_begin(self, message: m.BeginRound) -> list[m.Message]:
        r = open_round(
            message,
            silo_id=self.silo_id,
            deployment_id=self.deployment_id,
            last_round=self._last_round,
            directory=self._directory,
            policy=self._policy,
            releases=self._releases,
            model_digest=self._model_digest,
            train_digest=self._train_digest,
            pending_input=self._input,
            rng=self._rng,
        )
        self._round = r
        self._last_round = r.params.round_id
        self.stage = ClientStage.ADVERTISED
        return [advertisement(r, silo_id=self.silo_id, identity=self._identity)]

    def _on_directory(self, message: m.KeyDirectory) -> list[m.Message]:
        assert self._round is not None
        out = share_keys(
            self._round,
            message,
            silo_id=self.silo_id,
            identity=self._identity,
            directory=self._directory,
            rng=self._rng,
        )
        self.stage = ClientStage.SHARED
        return [out]

    def _on_shares(self, message: m.ShareDelivery) -> list[m.Message]:
        assert self._round is not None
        out = mask(self._round, message, silo_id=self.silo_id, encoded=self._input)
        self._input = None
        self.stage = ClientStage.MASKED
        return [out]

    def _on_consistency(self, message: m.ConsistencyRequest) -> list[m.Message]:
        assert self._round is not None
        out = sign_survivors(self._round, message, silo_id=self.silo_id, identity=self._identity)
        self.stage = ClientStage.SIGNED
        return [out]

    def _on_unmask(self, message: m.UnmaskRequest) -> list[m.Message]:
        assert self._round is not None
        out = answer_unmask(
            self._round,
            message,
            silo_id=self.silo_id,
            directory=self._directory,
            releases=self._releases,
            model_digest=self._model_digest,
        )
        self.stage = ClientStage.DONE
        self._round = None  # the answer is given once; drop the round's secrets
        return [out]
