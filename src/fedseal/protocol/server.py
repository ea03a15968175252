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

The server never holds more than one aggregate vector (masked inputs are summed as they arrive)
and keeps the unmasked sum in ``result``. Each dealer commits to every share it deals, inside its
signed ``ShareKeys``, and every share revealed at unmasking is checked against that commitment
before it is used; a silo that misbehaves is named in ``culprits``. Advertised keys of small
order are refused, and their advertiser dropped, at stage 0.

This module holds the stages, the transition table and the session. What each stage does with
its answers is in :mod:`~fedseal.protocol.server_stages`, the checks of those answers in
:mod:`~fedseal.protocol.server_checks`, and the handling of shares (routing, commitments, blame,
reconstruction) in :mod:`~fedseal.protocol.server_shares`.

Stages::

    ADVERTISE --all/close--> SHARE --all/close--> MASKED_INPUT --all/close--> CONSISTENCY
        --all/close--> UNMASK --all/close--> DONE        (any stage: < t left -> ABORTED)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, FedsealError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.server_stages import Outgoing, StageAnswers, StageHandlers
from fedseal.protocol.transcript import round_digest
from fedseal.secagg.graph import ClosedNeighbourhoods, GraphParams
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.keys import RoundContext

__all__ = ["Dropout", "Outgoing", "ServerSession", "ServerStage"]  # Outgoing: from server_stages


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


#: The stage that follows each stage once it closed with at least ``t`` answers.
_NEXT_STAGE = {
    ServerStage.ADVERTISE: ServerStage.SHARE,
    ServerStage.SHARE: ServerStage.MASKED_INPUT,
    ServerStage.MASKED_INPUT: ServerStage.CONSISTENCY,
    ServerStage.CONSISTENCY: ServerStage.UNMASK,
}


class ServerSession(StageHandlers):
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
    executor : concurrent.futures.Executor, optional
        Threads the caller lends for removing the masks at the end (the session starts none).
    parts : int, optional
        Into how many pieces the mask removal is split on ``executor`` (default 1).
    """

    def __init__(
        self,
        params: m.RoundParams,
        directory: Mapping[str, IdentityPublicKey],
        *,
        train_digest: bytes,
        executor: Executor | None = None,
        parts: int = 1,
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
        # Participants are sorted and unique, so a silo's index (RoundParams.index_of) is its
        # position + 1: kept in a dict rather than found by scanning the n participants.
        self._indices = {silo: i for i, silo in enumerate(params.participants, start=1)}
        self._closed = ClosedNeighbourhoods(self.graph, self.digest, params.participants)
        self._commitments: dict[tuple[str, str], tuple[bytes, bytes]] = {}  # (dealer, holder)
        self._signed_shares: dict[str, m.ShareKeys] = {}
        self._complaints: dict[str, set[str]] = {}  # dealer -> holders that rejected its share
        self._directory = dict(directory)
        self._executor, self._parts = executor, max(1, parts)
        self.stage = ServerStage.ADVERTISE
        self.dropouts: list[Dropout] = []
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self._state = StageAnswers(set(params.participants))
        self._dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
        self._sum: npt.NDArray[Any] | None = None
        self._ads: dict[str, m.AdvertiseKeys] = {}
        self._used_keys: set[bytes] = set()  # every public key of self._ads
        self._routed: dict[str, list[m.EncryptedShare]] = {}
        self._u2: set[str] = set()
        self._survivors: tuple[str, ...] = ()
        self._survivor_set: frozenset[str] = frozenset()
        self._dropped: frozenset[str] = frozenset()  # U2 - U3: shared keys, sent no input
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
    def survivors(self) -> tuple[str, ...]:
        """The silos whose masked input is in the sum (empty until the masked-input stage
        closes)."""
        return self._survivors

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
        # Answers come only from expected silos and a dropped silo leaves both, so the stage is
        # complete once the counts meet; only then is the (O(n)) set difference taken.
        state = self._state
        complete = len(state.answered) >= len(state.expected) and not self.waiting_for
        return self._advance() if not self.finished and complete else []

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

    # -- moving along the transition table (called by the closers of StageHandlers) -----------

    def _next_stage(self, expected: set[str]) -> None:
        self.stage = _NEXT_STAGE[self.stage]
        self._state = StageAnswers(expected)

    def _finish(self) -> None:
        self.stage = ServerStage.DONE
