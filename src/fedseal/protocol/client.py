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

Every check runs before any state changes. The secrets (``b``, ``s_sk``, ``c_sk``, the shares
held for others) live only in this object and are dropped when the round ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.release import MemoryReleaseLedger, ReleaseLedger
from fedseal.protocol.sharing import commit_pair, open_pair, seal_pair
from fedseal.protocol.transcript import (
    advertise_payload,
    consistency_payload,
    key_directory_digest,
    round_digest,
    share_keys_payload,
)
from fedseal.secagg.graph import GraphParams, neighbourhoods
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext, check_public_key
from fedseal.secagg.masking import mask_input

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


@dataclass
class _Round:
    params: m.RoundParams
    context: RoundContext
    index: int
    c_key: AgreementKey
    s_key: AgreementKey
    seed: MaskSeed
    graph: GraphParams
    digest: bytes
    closed_neighbourhoods: Mapping[str, frozenset[str]]
    directory: bytes = b""
    neighbours: frozenset[str] = frozenset()
    s_publics: Mapping[str, bytes] | None = None
    c_publics: Mapping[str, bytes] | None = None
    held: Mapping[str, tuple[shamir.Share, shamir.Share]] | None = None  # owner -> (b, s_sk)
    rejected: frozenset[str] = frozenset()  # neighbours whose share failed its checks
    survivors: tuple[str, ...] = ()


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
        self._round: _Round | None = None
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
            self._check_vector(encoded, self._round.params)
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

    @staticmethod
    def _check_vector(vector: npt.NDArray[Any], params: m.RoundParams) -> None:
        dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
        if vector.dtype != dtype or vector.shape != (params.vector_length,):
            raise ConfigError(
                f"input must be {params.vector_length} values of {np.dtype(dtype)}, "
                f"got {vector.shape} of {vector.dtype}"
            )

    # -- stage handlers -----------------------------------------------------------------------

    def _on_begin(self, message: m.BeginRound) -> list[m.Message]:
        p = message.params
        if p.deployment_id != self.deployment_id:
            raise ProtocolViolation("round belongs to another deployment")
        if p.round_id <= self._last_round:
            raise ProtocolViolation(f"round {p.round_id} is not newer than {self._last_round}")
        if list(p.participants) != sorted(set(p.participants)):
            raise ProtocolViolation("participants must be sorted and unique")
        if self.silo_id not in p.participants:
            raise ProtocolViolation("this silo is not a participant of the round")
        if any(silo not in self._directory for silo in p.participants):
            raise ProtocolViolation("round lists a silo outside the deployment")
        graph = self._policy.check(p, roster_size=len(self._directory))
        if self._releases.released(self._model_digest):
            raise ProtocolViolation(
                "this silo already helped unmask a sum on this model; it answers once per model"
            )
        if self._input is not None:
            try:
                self._check_vector(self._input, p)
            except ConfigError as exc:
                raise ProtocolViolation(str(exc)) from None
        context = RoundContext(p.deployment_id, p.round_id)
        digest = round_digest(p, self._train_digest)
        # The layout is seeded by the round digest, fixed before any key exists.
        names = {p.index_of(s): s for s in p.participants}
        closed = {
            names[i]: frozenset(names[j] for j in nb) | {names[i]}
            for i, nb in neighbourhoods(graph, digest).items()
        }
        r = _Round(
            params=p,
            context=context,
            index=p.index_of(self.silo_id),
            c_key=AgreementKey.generate(self._rng),
            s_key=AgreementKey.generate(self._rng),
            seed=MaskSeed.generate(self._rng),
            graph=graph,
            digest=digest,
            closed_neighbourhoods=closed,
        )
        c_pub, s_pub = r.c_key.public_bytes(), r.s_key.public_bytes()
        payload = advertise_payload(context, digest, self.silo_id, c_pub, s_pub)
        self._round = r
        self._last_round = p.round_id
        self.stage = ClientStage.ADVERTISED
        return [
            m.AdvertiseKeys(
                *context.fields(), self.silo_id, c_pub, s_pub, self._identity.sign(payload)
            )
        ]

    def _on_directory(self, message: m.KeyDirectory) -> list[m.Message]:
        r = self._round
        assert r is not None
        p = r.params
        by_silo: dict[str, m.AdvertiseKeys] = {}
        seen_keys: set[bytes] = set()
        for ad in message.advertisements:
            if ad.sender in by_silo or ad.sender not in p.participants:
                raise ProtocolViolation("key directory has a duplicate or unknown silo")
            if (ad.deployment_id, ad.round_id) != r.context.fields():
                raise ProtocolViolation("advertisement belongs to another round")
            if ad.c_public in seen_keys or ad.s_public in seen_keys or ad.c_public == ad.s_public:
                raise ProtocolViolation("key directory repeats a public key")
            seen_keys.update((ad.c_public, ad.s_public))
            by_silo[ad.sender] = ad
        mine = by_silo.get(self.silo_id)
        if mine is None or (mine.c_public, mine.s_public) != (
            r.c_key.public_bytes(),
            r.s_key.public_bytes(),
        ):
            raise ProtocolViolation("key directory does not carry this silo's own keys")
        if len(by_silo) < p.threshold:
            raise RoundAbortedError(
                f"only {len(by_silo)} silos advertised keys, need {p.threshold}"
            )
        closed = r.closed_neighbourhoods
        holders = sorted(v for v in closed[self.silo_id] if v in by_silo)
        # Only neighbours' keys are used, so only their signatures matter: a forged key of any
        # other silo changes nothing this silo sends or accepts. A neighbour that signed another
        # round digest was shown another model or other parameters: refuse the round.
        for v in holders:
            ad = by_silo[v]
            payload = advertise_payload(r.context, r.digest, v, ad.c_public, ad.s_public)
            self._directory[v].verify(payload, ad.signature)  # AuthenticationError
            check_public_key(ad.c_public)  # an honest server dropped such an advertiser
            check_public_key(ad.s_public)
        if len(holders) < p.threshold:
            raise RoundAbortedError("too few neighbours advertised keys to hold this silo's shares")
        xs = [p.index_of(v) for v in holders]
        seed_shares = shamir.split(r.seed.reveal(), xs, p.threshold, self._rng)
        key_shares = shamir.split(r.s_key.reveal(), xs, p.threshold, self._rng)
        out, held = [], {}
        for v, pair in zip(holders, zip(seed_shares, key_shares, strict=True), strict=True):
            if v == self.silo_id:  # its own share: committed like the others, never sent
                held[v] = pair
                own = commit_pair(r.context, self.silo_id, v, pair)
                out.append(m.EncryptedShare(self.silo_id, v, b"", *own))
                continue
            out.append(
                seal_pair(
                    r.context,
                    c_key=r.c_key,
                    holder_c_public=by_silo[v].c_public,
                    dealer=(self.silo_id, r.index),
                    holder=(v, p.index_of(v)),
                    pair=pair,
                    rng=self._rng,
                )
            )
        signature = self._identity.sign(share_keys_payload(r.context, r.digest, self.silo_id, out))
        r.directory = key_directory_digest(r.context, by_silo.values())
        r.neighbours = frozenset(holders) - {self.silo_id}
        r.s_publics = {v: ad.s_public for v, ad in by_silo.items()}
        r.held = held
        r.c_publics = {v: ad.c_public for v, ad in by_silo.items()}
        self.stage = ClientStage.SHARED
        return [m.ShareKeys(*r.context.fields(), self.silo_id, tuple(out), signature)]

    def _on_shares(self, message: m.ShareDelivery) -> list[m.Message]:
        r = self._round
        assert r is not None and r.held is not None
        assert r.s_publics is not None and r.c_publics is not None
        p = r.params
        if self._input is None:
            raise ConfigError("provide_input() must be called before the shares arrive")
        held = dict(r.held)
        rejected: set[str] = set()
        for share in message.shares:
            if share.receiver != self.silo_id or share.sender not in r.neighbours:
                raise ProtocolViolation("share from a non-neighbour or for another silo")
            if share.sender in held or share.sender in rejected:
                raise ProtocolViolation("two shares from the same silo")
            try:
                held[share.sender] = open_pair(
                    r.context,
                    share,
                    c_key=r.c_key,
                    dealer_c_public=r.c_publics[share.sender],
                    dealer_index=p.index_of(share.sender),
                    holder_index=r.index,
                )
            except AuthenticationError:
                # Hold nothing for this dealer but still mask with it: the masks cancel, and
                # the round survives while t other neighbours hold valid shares of it.
                rejected.add(share.sender)
        delivered = set(held) | rejected
        if len(delivered) < p.threshold:
            raise RoundAbortedError(
                f"only {len(delivered)} neighbours shared keys, need {p.threshold}"
            )
        peers = {p.index_of(v): r.s_publics[v] for v in delivered if v != self.silo_id}
        masked = mask_input(
            self._input, index=r.index, seed=r.seed, s_key=r.s_key, peers=peers, context=r.context
        )
        r.held = held
        r.rejected = frozenset(rejected)
        self._input = None
        self.stage = ClientStage.MASKED
        return [m.MaskedInput(*r.context.fields(), self.silo_id, masked, tuple(sorted(rejected)))]

    def _on_consistency(self, message: m.ConsistencyRequest) -> list[m.Message]:
        r = self._round
        assert r is not None and r.held is not None
        survivors = message.survivors
        if list(survivors) != sorted(set(survivors)):
            raise ProtocolViolation("survivor set must be sorted and unique")
        if self.silo_id not in survivors:
            raise ProtocolViolation("survivor set leaves out this silo, which sent its input")
        if any(v not in r.params.participants for v in survivors):
            raise ProtocolViolation("survivor set names a silo outside the round")
        if len(survivors) < r.params.threshold:
            raise RoundAbortedError(f"only {len(survivors)} survivors, need {r.params.threshold}")
        delivered = set(r.held) | r.rejected
        if any(v in r.neighbours and v not in delivered for v in survivors):
            raise ProtocolViolation("survivor set has a neighbour that never shared keys")
        payload = consistency_payload(r.context, r.digest, survivors, r.directory)
        r.survivors = tuple(survivors)
        self.stage = ClientStage.SIGNED
        return [
            m.ConsistencySignature(*r.context.fields(), self.silo_id, self._identity.sign(payload))
        ]

    def _on_unmask(self, message: m.UnmaskRequest) -> list[m.Message]:
        r = self._round
        assert r is not None and r.held is not None
        survivors, dropped = set(message.survivors), set(message.dropped)
        if tuple(message.survivors) != r.survivors:
            raise ProtocolViolation("unmask request names another survivor set than the one signed")
        if survivors & dropped:
            raise ProtocolViolation("a silo is listed both as survivor and as dropped; refusing")
        delivered = set(r.held) | r.rejected
        if any(
            v not in delivered or v == self.silo_id
            for v in dropped & set(r.closed_neighbourhoods[self.silo_id])
        ):
            raise ProtocolViolation("dropped set names a neighbour this silo holds no shares for")
        if self._releases.released(self._model_digest):
            raise ProtocolViolation(
                "this silo already helped unmask a sum on this model; it answers once per model"
            )
        answered = [o for o in r.held if o in survivors or o in dropped]
        relevant: set[str] = set().union(*(r.closed_neighbourhoods[o] for o in answered))
        payload = consistency_payload(r.context, r.digest, r.survivors, r.directory)
        signers: set[str] = set()
        seen: set[str] = set()
        for silo, signature in message.signatures:
            if silo not in survivors or silo in seen:
                raise ProtocolViolation("consistency signature from a non-survivor or repeated")
            seen.add(silo)
            if silo in relevant:  # only signatures around the silos answered for are counted
                self._directory[silo].verify(payload, signature)  # AuthenticationError
                signers.add(silo)
        seed_out: list[tuple[str, bytes]] = []
        key_out: list[tuple[str, bytes]] = []
        for owner, (b_share, s_share) in sorted(r.held.items()):
            if owner in survivors:
                share, out = b_share, seed_out
            elif owner in dropped:
                share, out = s_share, key_out
            else:
                continue
            if len(signers & r.closed_neighbourhoods[owner]) < r.params.threshold:
                raise ProtocolViolation(
                    f"fewer than {r.params.threshold} consistency signatures around {owner!r}"
                )
            out.append((owner, share.to_bytes()))
        # Durable before the answer leaves: a crash after this point never answers twice.
        self._releases.record(self._model_digest)
        self.stage = ClientStage.DONE
        self._round = None  # the answer is given once; drop the round's secrets
        return [
            m.UnmaskResponse(*r.context.fields(), self.silo_id, tuple(seed_out), tuple(key_out))
        ]
