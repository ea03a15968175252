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

    NEW          --BeginRound-->          ADVERTISED   (check params, make keys, sign them)
    ADVERTISED   --KeyDirectory-->        SHARED       (verify signatures, share b and s_sk)
    SHARED       --ShareDelivery-->       MASKED       (decrypt shares, mask the input)
    MASKED       --ConsistencyRequest-->  SIGNED       (sign U3 once)
    SIGNED       --UnmaskRequest-->       DONE         (answer once: b- XOR s-shares per silo)

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
from fedseal.protocol.transcript import (
    advertise_payload,
    consistency_payload,
    key_directory_digest,
    share_ad,
)
from fedseal.secagg.graph import GraphParams, minimum_threshold, neighbourhoods
from fedseal.secagg.hazmat import aead, shamir
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext
from fedseal.secagg.masking import mask_input, share_key

__all__ = ["ClientPolicy", "ClientSession", "ClientStage"]


class ClientStage(Enum):
    """Where the silo is in the round."""

    NEW = "new"
    ADVERTISED = "advertised"
    SHARED = "shared"
    MASKED = "masked"
    SIGNED = "signed"
    DONE = "done"
    ABORTED = "aborted"


@dataclass(frozen=True, kw_only=True)
class ClientPolicy:
    """The silo's own security requirements, checked against what the server proposes.

    Parameters
    ----------
    corruption : float
        Largest fraction of silos assumed to collude with the server; sets the lowest threshold
        the silo accepts.
    min_silos : int
        Fewest participants the silo accepts in a round (never fewer than 2).
    allowed_modulus_bits : tuple of int
        Moduli the silo accepts.
    """

    corruption: float = 0.05
    min_silos: int = 2
    allowed_modulus_bits: tuple[int, ...] = (32, 64)

    def __post_init__(self) -> None:
        if not 0.0 <= self.corruption < 0.5:
            raise ConfigError(f"corruption must be in [0, 0.5), got {self.corruption}")
        if self.min_silos < 2:
            raise ConfigError(f"min_silos must be >= 2, got {self.min_silos}")


@dataclass
class _Round:
    params: m.RoundParams
    context: RoundContext
    index: int
    c_key: AgreementKey
    s_key: AgreementKey
    seed: MaskSeed
    graph: GraphParams
    directory: bytes = b""
    neighbours: frozenset[str] = frozenset()
    closed_neighbourhoods: Mapping[str, frozenset[str]] | None = None
    s_publics: Mapping[str, bytes] | None = None
    c_publics: Mapping[str, bytes] | None = None
    held: Mapping[str, tuple[shamir.Share, shamir.Share]] | None = None  # owner -> (b, s_sk)
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
    policy : ClientPolicy
        Security requirements the server's parameters must meet.
    last_round : int
        Highest round id this silo already took part in; older or equal rounds are refused.
    """

    def __init__(
        self,
        *,
        silo_id: str,
        deployment_id: str,
        identity_key: IdentityKey,
        directory: Mapping[str, IdentityPublicKey],
        rng: RandomSource,
        policy: ClientPolicy | None = None,
        last_round: int = -1,
    ) -> None:
        if silo_id not in directory or directory[silo_id] != identity_key.public_key:
            raise ConfigError(f"silo {silo_id!r} is not in the directory with this identity key")
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
        except (ProtocolViolation, RoundAbortedError):
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
        n = len(p.participants)
        if n < self._policy.min_silos:
            raise ProtocolViolation(f"round has {n} silos, policy needs {self._policy.min_silos}")
        if p.modulus_bits not in self._policy.allowed_modulus_bits or p.vector_length < 1:
            raise ProtocolViolation("round has an unacceptable modulus or vector length")
        try:
            graph = GraphParams(p.graph, n, p.k, p.threshold)
        except ConfigError as exc:
            raise ProtocolViolation(f"bad graph parameters: {exc}") from None
        needed = minimum_threshold(p.graph, n, p.k, corruption=self._policy.corruption)
        if p.threshold < needed:
            raise ProtocolViolation(f"threshold {p.threshold} is below the safe minimum {needed}")
        if self._input is not None:
            try:
                self._check_vector(self._input, p)
            except ConfigError as exc:
                raise ProtocolViolation(str(exc)) from None
        context = RoundContext(p.deployment_id, p.round_id)
        r = _Round(
            params=p,
            context=context,
            index=p.index_of(self.silo_id),
            c_key=AgreementKey.generate(self._rng),
            s_key=AgreementKey.generate(self._rng),
            seed=MaskSeed.generate(self._rng),
            graph=graph,
        )
        c_pub, s_pub = r.c_key.public_bytes(), r.s_key.public_bytes()
        signature = self._identity.sign(advertise_payload(context, self.silo_id, c_pub, s_pub))
        self._round = r
        self._last_round = p.round_id
        self.stage = ClientStage.ADVERTISED
        return [m.AdvertiseKeys(*context.fields(), self.silo_id, c_pub, s_pub, signature)]

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
        directory = key_directory_digest(r.context, by_silo.values())
        by_index = neighbourhoods(r.graph, directory)
        names = {p.index_of(s): s for s in p.participants}
        closed = {
            names[i]: frozenset(names[j] for j in nb) | {names[i]} for i, nb in by_index.items()
        }
        holders = sorted(v for v in closed[self.silo_id] if v in by_silo)
        # Only neighbours' keys are used, so only their signatures matter: a forged key of any
        # other silo changes nothing this silo sends or accepts.
        for v in holders:
            ad = by_silo[v]
            payload = advertise_payload(r.context, v, ad.c_public, ad.s_public)
            self._directory[v].verify(payload, ad.signature)  # AuthenticationError
        if len(holders) < p.threshold:
            raise RoundAbortedError("too few neighbours advertised keys to hold this silo's shares")
        xs = [p.index_of(v) for v in holders]
        seed_shares = shamir.split(r.seed.reveal(), xs, p.threshold, self._rng)
        key_shares = shamir.split(r.s_key.reveal(), xs, p.threshold, self._rng)
        out, held = [], {}
        for v, b_share, s_share in zip(holders, seed_shares, key_shares, strict=True):
            if v == self.silo_id:
                held[v] = (b_share, s_share)
                continue
            key = share_key(r.c_key, by_silo[v].c_public, r.context, r.index, p.index_of(v))
            plaintext = b_share.to_bytes() + s_share.to_bytes()
            sealed = aead.seal(key, plaintext, share_ad(r.context, self.silo_id, v), self._rng)
            out.append(m.EncryptedShare(self.silo_id, v, sealed))
        r.directory = directory
        r.closed_neighbourhoods = closed
        r.neighbours = frozenset(holders) - {self.silo_id}
        r.s_publics = {v: ad.s_public for v, ad in by_silo.items()}
        r.held = held
        r.c_publics = {v: ad.c_public for v, ad in by_silo.items()}
        self.stage = ClientStage.SHARED
        return [m.ShareKeys(*r.context.fields(), self.silo_id, tuple(out))]

    def _on_shares(self, message: m.ShareDelivery) -> list[m.Message]:
        r = self._round
        assert r is not None and r.held is not None
        assert r.s_publics is not None and r.c_publics is not None
        p = r.params
        if self._input is None:
            raise ConfigError("provide_input() must be called before the shares arrive")
        held = dict(r.held)
        for share in message.shares:
            if share.receiver != self.silo_id or share.sender not in r.neighbours:
                raise ProtocolViolation("share from a non-neighbour or for another silo")
            if share.sender in held:
                raise ProtocolViolation("two shares from the same silo")
            sender_index = p.index_of(share.sender)
            key = share_key(r.c_key, r.c_publics[share.sender], r.context, sender_index, r.index)
            try:
                plain = aead.open_sealed(
                    key, share.ciphertext, share_ad(r.context, share.sender, self.silo_id)
                )
            except AuthenticationError:
                raise ProtocolViolation("a share failed authentication") from None
            if len(plain) != 2 * shamir.SECRET_BYTES:
                raise ProtocolViolation("a share has the wrong length")
            held[share.sender] = (
                shamir.Share.from_bytes(r.index, plain[: shamir.SECRET_BYTES]),
                shamir.Share.from_bytes(r.index, plain[shamir.SECRET_BYTES :]),
            )
        if len(held) < p.threshold:
            raise RoundAbortedError(f"only {len(held)} neighbours shared keys, need {p.threshold}")
        peers = {p.index_of(v): r.s_publics[v] for v in held if v != self.silo_id}
        masked = mask_input(
            self._input, index=r.index, seed=r.seed, s_key=r.s_key, peers=peers, context=r.context
        )
        r.held = held
        self._input = None
        self.stage = ClientStage.MASKED
        return [m.MaskedInput(*r.context.fields(), self.silo_id, masked)]

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
        if any(v in r.neighbours and v not in r.held for v in survivors):
            raise ProtocolViolation("survivor set has a neighbour that never shared keys")
        payload = consistency_payload(r.context, survivors, r.directory)
        r.survivors = tuple(survivors)
        self.stage = ClientStage.SIGNED
        return [
            m.ConsistencySignature(*r.context.fields(), self.silo_id, self._identity.sign(payload))
        ]

    def _on_unmask(self, message: m.UnmaskRequest) -> list[m.Message]:
        r = self._round
        assert r is not None and r.held is not None and r.closed_neighbourhoods is not None
        survivors, dropped = set(message.survivors), set(message.dropped)
        if tuple(message.survivors) != r.survivors:
            raise ProtocolViolation("unmask request names another survivor set than the one signed")
        if survivors & dropped:
            raise ProtocolViolation("a silo is listed both as survivor and as dropped; refusing")
        if any(
            v not in r.held or v == self.silo_id
            for v in dropped & set(r.closed_neighbourhoods[self.silo_id])
        ):
            raise ProtocolViolation("dropped set names a neighbour this silo holds no shares for")
        answered = [o for o in r.held if o in survivors or o in dropped]
        relevant: set[str] = set().union(*(r.closed_neighbourhoods[o] for o in answered))
        payload = consistency_payload(r.context, r.survivors, r.directory)
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
        self.stage = ClientStage.DONE
        self._round = None  # the answer is given once; drop the round's secrets
        return [
            m.UnmaskResponse(*r.context.fields(), self.silo_id, tuple(seed_out), tuple(key_out))
        ]
