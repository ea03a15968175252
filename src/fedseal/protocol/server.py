"""The coordinator's side of one secure-aggregation round, as a sans-IO state machine.

Theory of operation
-------------------
A :class:`ServerSession` drives one round of Bonawitz et al. (CCS 2017, §4) with the graph of
Bell et al. (2020). The transport calls :meth:`ServerSession.receive` with each authenticated
silo's message (the silo name comes from its TLS certificate, never from the message) and
:meth:`ServerSession.close_stage` when the stage's deadline passes; both return
``(silo, message)`` pairs to send. A stage also closes by itself once every expected silo has
answered. A silo that does not answer in time, or sends something invalid, is recorded as a
dropout of that stage and the round goes on while at least ``t`` silos remain; below ``t`` the
round is aborted and nothing is revealed.

The server never holds more than one aggregate vector: masked inputs are added into a running
sum as they arrive (O(d) memory). At the end it reconstructs, with one set of Lagrange
coefficients per set of responders, the self-mask seeds of survivors and the mask keys of silos
that dropped after sharing, removes those masks and keeps the sum in ``result``.

Each dealer commits to every share it deals, inside its signed ``ShareKeys``. Every share
revealed at unmasking is checked against that commitment before it is used: a silo that
reveals a bad share is excluded from the reconstruction and named in ``culprits``, and any
``t`` valid shares reconstruct. A silo whose secret cannot be reconstructed because its
holders rejected its shares (their complaints come with their masked inputs) is named too.
Advertised keys of small order are refused, and their advertiser dropped, at stage 0.

Stages::

    ADVERTISE --all/close--> SHARE --all/close--> MASKED_INPUT --all/close--> CONSISTENCY
        --all/close--> UNMASK --all/close--> DONE        (any stage: < t left -> ABORTED)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, FedsealError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.transcript import (
    COMMITMENT_BYTES,
    advertise_payload,
    consistency_payload,
    key_directory_digest,
    round_digest,
    share_commitment,
    share_keys_payload,
)
from fedseal.secagg.graph import GraphParams, neighbourhoods
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext, check_public_key
from fedseal.secagg.masking import unmask_sum

__all__ = ["Dropout", "Outgoing", "ServerSession", "ServerStage"]

Outgoing = tuple[str, m.Message]


class ServerStage(Enum):
    """The stage whose answers the server is collecting."""

    ADVERTISE = "advertise"
    SHARE = "share"
    MASKED_INPUT = "masked_input"
    CONSISTENCY = "consistency"
    UNMASK = "unmask"
    DONE = "done"
    ABORTED = "aborted"


@dataclass(frozen=True)
class Dropout:
    """A silo that left the round: at which stage, and why (safe to log and audit)."""

    silo: str
    stage: ServerStage
    reason: str


@dataclass
class _State:
    expected: set[str]
    answered: dict[str, Any] = field(default_factory=dict)


class ServerSession:
    """One round, seen from the server. See the module docstring.

    Parameters
    ----------
    params : RoundParams
        The round's parameters (participants sorted; graph, k and t chosen by the caller).
    directory : mapping of str to IdentityPublicKey
        Identity keys of the deployment's silos.
    train_digest : bytes
        Digest of the ``TrainRequest`` the server sent for this round; silos that were shown
        anything else sign another round digest and are dropped at stage 0.
    """

    def __init__(
        self,
        params: m.RoundParams,
        directory: Mapping[str, IdentityPublicKey],
        *,
        train_digest: bytes,
    ) -> None:
        if list(params.participants) != sorted(set(params.participants)):
            raise ConfigError("participants must be sorted and unique")
        missing = [s for s in params.participants if s not in directory]
        if missing:
            raise ConfigError(f"participants without an identity key: {missing}")
        self.graph = GraphParams(params.graph, len(params.participants), params.k, params.threshold)
        self.params = params
        self.context = RoundContext(params.deployment_id, params.round_id)
        self.digest = round_digest(params, bytes(train_digest))
        #: Silos proven or found to misbehave, with the reason (safe to log and audit).
        self.culprits: dict[str, str] = {}
        names = {params.index_of(s): s for s in params.participants}
        self._closed: dict[str, frozenset[str]] = {
            names[i]: frozenset(names[j] for j in nb) | {names[i]}
            for i, nb in neighbourhoods(self.graph, self.digest).items()
        }
        self._commitments: dict[tuple[str, str], tuple[bytes, bytes]] = {}  # (dealer, holder)
        self._signed_shares: dict[str, m.ShareKeys] = {}
        self._complaints: dict[str, set[str]] = {}  # dealer -> holders that rejected its share
        self._directory = dict(directory)
        self.stage = ServerStage.ADVERTISE
        self.dropouts: list[Dropout] = []
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self._state = _State(set(params.participants))
        self._dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
        self._sum: npt.NDArray[Any] | None = None
        self._ads: dict[str, m.AdvertiseKeys] = {}
        self._routed: dict[str, list[m.EncryptedShare]] = {}
        self._u2: set[str] = set()
        self._survivors: tuple[str, ...] = ()
        self._directory_digest = b""
        self._consistency_payload = b""
        self._handlers: dict[tuple[ServerStage, type], Callable[[str, Any], None]] = {
            (ServerStage.ADVERTISE, m.AdvertiseKeys): self._on_advertise,
            (ServerStage.SHARE, m.ShareKeys): self._on_share_keys,
            (ServerStage.MASKED_INPUT, m.MaskedInput): self._on_masked,
            (ServerStage.CONSISTENCY, m.ConsistencySignature): self._on_signature,
            (ServerStage.UNMASK, m.UnmaskResponse): self._on_unmask,
        }
        self._closers: dict[ServerStage, Callable[[], list[Outgoing]]] = {
            ServerStage.ADVERTISE: self._close_advertise,
            ServerStage.SHARE: self._close_share,
            ServerStage.MASKED_INPUT: self._close_masked,
            ServerStage.CONSISTENCY: self._close_consistency,
            ServerStage.UNMASK: self._close_unmask,
        }

    # -- public API ---------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the round is DONE or ABORTED."""
        return self.stage in (ServerStage.DONE, ServerStage.ABORTED)

    @property
    def waiting_for(self) -> frozenset[str]:
        """Silos whose answer to the current stage has not arrived yet."""
        if self.finished:
            return frozenset()
        return frozenset(self._state.expected - set(self._state.answered))

    def start(self) -> list[Outgoing]:
        """The :class:`BeginRound` message for every participant."""
        return [(silo, m.BeginRound(self.params)) for silo in self.params.participants]

    def receive(self, silo: str, message: m.Message) -> list[Outgoing]:
        """Handle one authenticated silo's message; returns what to send next.

        A message that breaks the protocol makes that silo a dropout of this stage (it is not
        raised: one bad silo must not stop the round). Messages after the round ended, or from
        silos that are no longer expected, are ignored.
        """
        if self.finished or silo not in self._state.expected or silo in self._state.answered:
            return []
        try:
            handler = self._handlers.get((self.stage, type(message)))
            if handler is None and not isinstance(message, m.AbortRound):
                raise ProtocolViolation(f"unexpected {type(message).__name__}")
            if (getattr(message, "deployment_id", None), getattr(message, "round_id", None)) != (
                self.context.fields()
            ):
                raise ProtocolViolation("message belongs to another round or deployment")
            if handler is None:  # an AbortRound of this round, at any stage
                self._drop(
                    silo, f"silo abandoned the round: {getattr(message, 'reason', '')[:200]}"
                )
                return self._maybe_close()
            if getattr(message, "sender", silo) != silo:
                raise ProtocolViolation("sender field does not match the authenticated silo")
            handler(silo, message)
        except FedsealError as exc:
            self._drop(silo, f"protocol violation: {exc}")
        except Exception as exc:  # not a refusal this session knows: end the round (h11's ERROR)
            return self._abort(f"internal error on {type(message).__name__} from {silo}: "
                               f"{type(exc).__name__}: {exc}"[:300])  # fmt: skip
        return self._maybe_close()

    def close_stage(self) -> list[Outgoing]:
        """The stage's deadline passed: silos that did not answer become dropouts."""
        if self.finished:
            return []
        for silo in sorted(self.waiting_for):
            self._drop(silo, "timed out")
        return self._advance()

    # -- helpers ------------------------------------------------------------------------------

    def _drop(self, silo: str, reason: str) -> None:
        self._state.expected.discard(silo)
        self._state.answered.pop(silo, None)
        self.dropouts.append(Dropout(silo, self.stage, reason))

    def _maybe_close(self) -> list[Outgoing]:
        if not self.finished and not self.waiting_for:
            return self._advance()
        return []

    def _advance(self) -> list[Outgoing]:
        try:
            return self._closers[self.stage]()
        except RoundAbortedError as exc:
            return self._abort(str(exc))
        except Exception as exc:  # any other failure also ends the round, never half-advanced
            return self._abort(f"internal error closing {self.stage.value}: "
                               f"{type(exc).__name__}: {exc}"[:300])  # fmt: skip

    def _abort(self, reason: str) -> list[Outgoing]:
        recipients = sorted(self._state.expected)
        self.stage = ServerStage.ABORTED
        self.abort_reason = reason
        self._sum = None
        notice = m.AbortRound(*self.context.fields(), reason)
        return [(silo, notice) for silo in recipients]

    def _require(self, count: int, what: str) -> None:
        if count < self.params.threshold:
            raise RoundAbortedError(
                f"only {count} silos {what}, the threshold is {self.params.threshold}"
            )

    def _next(self, stage: ServerStage, expected: set[str]) -> None:
        self.stage = stage
        self._state = _State(expected)

    # -- stage 0: AdvertiseKeys ---------------------------------------------------------------

    def _on_advertise(self, silo: str, msg: m.AdvertiseKeys) -> None:
        payload = advertise_payload(self.context, self.digest, silo, msg.c_public, msg.s_public)
        self._directory[silo].verify(payload, msg.signature)
        check_public_key(msg.c_public)
        check_public_key(msg.s_public)
        used = {k for ad in self._ads.values() for k in (ad.c_public, ad.s_public)}
        if msg.c_public in used or msg.s_public in used or msg.c_public == msg.s_public:
            raise ProtocolViolation("duplicate public key")
        self._ads[silo] = msg
        self._state.answered[silo] = True

    def _close_advertise(self) -> list[Outgoing]:
        u1 = set(self._state.answered)
        self._require(len(u1), "advertised keys")
        ads = tuple(self._ads[s] for s in sorted(u1))
        self._directory_digest = key_directory_digest(self.context, ads)
        self._next(ServerStage.SHARE, u1)
        directory = m.KeyDirectory(*self.context.fields(), ads)
        return [(silo, directory) for silo in sorted(u1)]

    # -- stage 1: ShareKeys -------------------------------------------------------------------

    def _on_share_keys(self, silo: str, msg: m.ShareKeys) -> None:
        allowed = self._closed[silo] & set(self._ads)  # its own share's commitment included
        receivers = [s.receiver for s in msg.shares]
        if any(s.sender != silo for s in msg.shares) or len(set(receivers)) != len(receivers):
            raise ProtocolViolation("shares with a wrong sender or a repeated receiver")
        if set(receivers) != allowed:
            raise ProtocolViolation("shares must go to exactly the silo's neighbours")
        if any(s.receiver == silo and s.ciphertext for s in msg.shares):
            raise ProtocolViolation("a silo's own share is committed to, never sent")
        if any(
            len(s.seed_commitment) != COMMITMENT_BYTES or len(s.key_commitment) != COMMITMENT_BYTES
            for s in msg.shares
        ):
            raise ProtocolViolation("share commitments must be 32 bytes")
        # The channel already authenticates the dealer; its signature is checked when a
        # commitment is used as evidence against a silo (_blame), not on every round.
        self._signed_shares[silo] = msg
        self._state.answered[silo] = msg.shares

    def _close_share(self) -> list[Outgoing]:
        self._u2 = set(self._state.answered)
        self._require(len(self._u2), "shared their keys")
        routed: dict[str, list[m.EncryptedShare]] = {s: [] for s in self._u2}
        for sender in sorted(self._u2):
            for share in self._state.answered[sender]:
                self._commitments[(sender, share.receiver)] = (
                    share.seed_commitment,
                    share.key_commitment,
                )
                if share.receiver in routed and share.receiver != sender:
                    routed[share.receiver].append(share)
        self._routed = routed
        self._next(ServerStage.MASKED_INPUT, set(self._u2))
        return [
            (silo, m.ShareDelivery(*self.context.fields(), tuple(routed[silo])))
            for silo in sorted(self._u2)
        ]

    # -- stage 2: MaskedInput -----------------------------------------------------------------

    def _on_masked(self, silo: str, msg: m.MaskedInput) -> None:
        v = msg.vector
        if not isinstance(v, np.ndarray) or v.dtype != self._dtype:
            raise ProtocolViolation(f"masked input must be {np.dtype(self._dtype)}")
        if v.shape != (self.params.vector_length,):
            raise ProtocolViolation(
                f"masked input must have {self.params.vector_length} values, got {v.shape}"
            )
        rejected = tuple(msg.rejected)
        if len(set(rejected)) != len(rejected) or any(
            d == silo or d not in self._closed[silo] or (d, silo) not in self._commitments
            for d in rejected
        ):
            raise ProtocolViolation("complaint about a silo that dealt this silo no share")
        if self._sum is None:
            self._sum = np.zeros(self.params.vector_length, dtype=self._dtype)
        np.add(self._sum, v, out=self._sum)  # wraps mod 2^k by design
        for dealer in rejected:
            self._complaints.setdefault(dealer, set()).add(silo)
        self._state.answered[silo] = True

    def _close_masked(self) -> list[Outgoing]:
        u3 = sorted(self._state.answered)
        self._require(len(u3), "sent masked input")
        self._survivors = tuple(u3)
        # Every silo signs the same bytes: build them once, not once per signature.
        self._consistency_payload = consistency_payload(
            self.context, self.digest, self._survivors, self._directory_digest
        )
        self._next(ServerStage.CONSISTENCY, set(u3))
        request = m.ConsistencyRequest(*self.context.fields(), self._survivors)
        return [(silo, request) for silo in u3]

    # -- stage 3: ConsistencyCheck ------------------------------------------------------------

    def _on_signature(self, silo: str, msg: m.ConsistencySignature) -> None:
        self._directory[silo].verify(self._consistency_payload, msg.signature)
        self._state.answered[silo] = msg.signature

    def _close_consistency(self) -> list[Outgoing]:
        signers = sorted(self._state.answered)
        self._require(len(signers), "signed the survivor set")
        signatures = tuple((s, self._state.answered[s]) for s in signers)
        dropped = tuple(sorted(self._u2 - set(self._survivors)))
        self._next(ServerStage.UNMASK, set(signers))
        request = m.UnmaskRequest(*self.context.fields(), self._survivors, dropped, signatures)
        return [(silo, request) for silo in signers]

    # -- stage 4: Unmask ----------------------------------------------------------------------

    def _on_unmask(self, silo: str, msg: m.UnmaskResponse) -> None:
        owners_b = [o for o, _ in msg.seed_shares]
        owners_s = [o for o, _ in msg.key_shares]
        if len(set(owners_b)) != len(owners_b) or len(set(owners_s)) != len(owners_s):
            raise ProtocolViolation("repeated share owner")
        if set(owners_b) & set(owners_s):
            raise ProtocolViolation("both kinds of share for one silo")
        survivors, dropped = set(self._survivors), self._u2 - set(self._survivors)
        x = self.params.index_of(silo)
        parsed: dict[tuple[str, str], shamir.Share] = {}
        for kind, items, allowed in (
            ("b", msg.seed_shares, survivors),
            ("s", msg.key_shares, dropped),
        ):
            for owner, data in items:
                if owner not in allowed or silo not in self._closed[owner]:
                    raise ProtocolViolation(f"unrequested share for {owner!r}")
                committed = self._commitments.get((owner, silo))
                if committed is None:
                    raise ProtocolViolation(f"{owner!r} dealt no share to this silo")
                expected = committed[0] if kind == "b" else committed[1]
                if share_commitment(self.context, kind, owner, silo, data) != expected:
                    raise ProtocolViolation(self._blame(silo, owner))
                parsed[(kind, owner)] = shamir.Share.from_bytes(x, data)
        self._state.answered[silo] = parsed

    def _blame(self, holder: str, dealer: str) -> str:
        """Name who is at fault for a revealed share that fails its commitment; returns why.

        A holder checks every share against this commitment when it receives it, so the
        mismatch is the holder's doing, provided the dealer really signed the commitment.
        """
        signed = self._signed_shares[dealer]
        payload = share_keys_payload(self.context, self.digest, dealer, signed.shares)
        try:
            self._directory[dealer].verify(payload, signed.signature)
        except ProtocolViolation:
            self.culprits[dealer] = "its ShareKeys signature does not verify"
            return f"a share of {dealer!r} fails a commitment {dealer!r} did not sign"
        self.culprits[holder] = f"revealed a share of {dealer!r} that fails its commitment"
        return self.culprits[holder]

    def _reconstruct(self, kind: str, owners: list[str]) -> dict[str, bytes]:
        t = self.params.threshold
        groups: dict[tuple[int, ...], list[tuple[str, list[int]]]] = {}
        for owner in owners:
            shares = sorted(
                (
                    answer[(kind, owner)]
                    for answer in self._state.answered.values()
                    if (kind, owner) in answer
                ),
                key=lambda s: s.x,
            )
            if len(shares) < t:
                complaints = self._complaints.get(owner, set())
                if complaints:
                    self.culprits[owner] = (
                        f"{len(complaints)} neighbours rejected its shares; its secret cannot "
                        "be reconstructed"
                    )
                raise RoundAbortedError(
                    f"only {len(shares)} valid shares to unmask {owner!r}, the threshold is {t}"
                )
            xs = tuple(s.x for s in shares[:t])
            groups.setdefault(xs, []).append((owner, [s.y for s in shares[:t]]))
        out: dict[str, bytes] = {}
        for xs, rows in groups.items():
            secrets = shamir.reconstruct_many(xs, [ys for _, ys in rows])
            out.update({owner: secret for (owner, _), secret in zip(rows, secrets, strict=True)})
        return out

    def _close_unmask(self) -> list[Outgoing]:
        self._require(len(self._state.answered), "answered the unmask request")
        survivors = list(self._survivors)
        dropped = sorted(self._u2 - set(survivors))
        seeds = self._reconstruct("b", survivors)
        keys = self._reconstruct("s", dropped)
        assert self._sum is not None
        total = self._sum
        lost = []
        for silo in dropped:
            key = AgreementKey(keys[silo])
            if key.public_bytes() != self._ads[silo].s_public:
                # Every share matched its commitment, so the dealer itself dealt bad shares.
                self.culprits[silo] = "dealt shares that do not reconstruct its advertised key"
                raise RoundAbortedError(f"reconstructed key of {silo!r} does not match its advert")
            # Survivors that received this silo's shares (its neighbours) masked with it.
            maskers = {
                self.params.index_of(u): self._ads[u].s_public
                for u in survivors
                if u in self._closed[silo] and u != silo
            }
            lost.append((self.params.index_of(silo), key, maskers))
        unmask_sum(
            total,
            seeds=[MaskSeed(seeds[silo]) for silo in survivors],
            dropped=lost,
            context=self.context,
        )
        self.result = total
        self._sum = None
        self.stage = ServerStage.DONE
        return []
