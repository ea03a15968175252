"""What the coordinator does with each stage's answers, and how each stage closes.

Bonawitz et al. (CCS 2017, §4 rounds 0 to 4) with the graph of Bell et al. (2020).
:class:`StageHandlers` is the per-stage half of :class:`~fedseal.protocol.server.ServerSession`:
for each stage, ``_on_<stage>`` accepts one authenticated silo's answer (its checks are in
:mod:`~fedseal.protocol.server_checks` and :mod:`~fedseal.protocol.server_shares`; a refusal
raises and the session drops that silo) and ``_close_<stage>`` closes the stage once every
expected silo answered or its deadline passed, returning what to send next. Which stage accepts
which message, and which stage follows which, is the session's transition table.

The server never holds more than one aggregate vector: masked inputs are added into a running
sum as they arrive (O(d) memory). At the end it reconstructs, with one set of Lagrange
coefficients per set of responders, the self-mask seeds of survivors and the mask keys of silos
that dropped after sharing, removes those masks and keeps the sum in ``result``. Below ``t``
answers a closer raises :class:`~fedseal.errors.RoundAbortedError` and nothing is revealed.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.server_checks import check_advertisement, check_masked_input, check_share_keys
from fedseal.protocol.server_shares import (
    blame,
    dropped_masks,
    parse_unmask_response,
    reconstruct,
    route_shares,
)
from fedseal.protocol.transcript import consistency_payload, key_directory_digest
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.keys import MaskSeed, RoundContext
from fedseal.secagg.masking import unmask_sum

__all__ = ["Outgoing", "StageAnswers", "StageHandlers"]

#: A message to send, and the silo to send it to.
Outgoing = tuple[str, m.Message]


@dataclass
class StageAnswers:
    """The silos expected to answer the current stage, and the answers accepted so far."""

    expected: set[str]
    answered: dict[str, Any] = field(default_factory=dict)


class StageHandlers:
    """Each stage's handler and closer: the base of :class:`~fedseal.protocol.server.ServerSession`.

    The session sets every attribute declared here in its ``__init__`` and implements
    :meth:`_next_stage` and :meth:`_finish`, which move it along its transition table.
    """

    params: m.RoundParams
    context: RoundContext
    digest: bytes
    culprits: dict[str, str]
    result: npt.NDArray[Any] | None
    _directory: dict[str, IdentityPublicKey]
    _executor: Executor | None  # threads lent for unmask_sum
    _parts: int
    _indices: dict[str, int]  # participant -> index 1..n
    _closed: Mapping[str, frozenset[str]]
    _state: StageAnswers
    _dtype: type[np.unsignedinteger[Any]]
    _sum: npt.NDArray[Any] | None
    _ads: dict[str, m.AdvertiseKeys]
    _used_keys: set[bytes]  # every public key of _ads
    _commitments: dict[tuple[str, str], tuple[bytes, bytes]]  # (dealer, holder)
    _signed_shares: dict[str, m.ShareKeys]
    _complaints: dict[str, set[str]]  # dealer -> holders that rejected its share
    _routed: dict[str, list[m.EncryptedShare]]
    _u2: set[str]
    _survivors: tuple[str, ...]
    _survivor_set: frozenset[str]
    _dropped: frozenset[str]  # U2 - U3
    _directory_digest: bytes
    _consistency_payload: bytes

    def _next_stage(self, expected: set[str]) -> None:
        """Move to the stage after the current one, expecting answers from ``expected``."""
        raise NotImplementedError

    def _finish(self) -> None:
        """The last stage closed and ``result`` holds the sum."""
        raise NotImplementedError

    def _require(self, count: int, what: str) -> None:
        if count < self.params.threshold:
            raise RoundAbortedError(
                f"only {count} silos {what}, the threshold is {self.params.threshold}"
            )

    # -- stage 0: AdvertiseKeys ---------------------------------------------------------------

    def _on_advertise(self, silo: str, msg: m.AdvertiseKeys) -> None:
        check_advertisement(
            msg,
            silo=silo,
            context=self.context,
            digest=self.digest,
            identity=self._directory[silo],
            used_keys=self._used_keys,
        )
        self._ads[silo] = msg
        self._used_keys.update((msg.c_public, msg.s_public))
        self._state.answered[silo] = True

    def _close_advertise(self) -> list[Outgoing]:
        u1 = set(self._state.answered)
        self._require(len(u1), "advertised keys")
        ads = tuple(self._ads[s] for s in sorted(u1))
        self._directory_digest = key_directory_digest(self.context, ads)
        self._next_stage(u1)
        directory = m.KeyDirectory(*self.context.fields(), ads)
        return [(silo, directory) for silo in sorted(u1)]

    # -- stage 1: ShareKeys -------------------------------------------------------------------

    def _on_share_keys(self, silo: str, msg: m.ShareKeys) -> None:
        # Its closed neighbourhood among the advertisers, its own share's commitment included.
        allowed = {v for v in self._closed[silo] if v in self._ads}
        check_share_keys(msg, silo=silo, allowed=allowed)
        self._signed_shares[silo] = msg
        self._state.answered[silo] = msg.shares

    def _close_share(self) -> list[Outgoing]:
        self._u2 = set(self._state.answered)
        self._require(len(self._u2), "shared their keys")
        routed = route_shares(self._state.answered, self._u2, self._commitments)
        self._routed = routed
        self._next_stage(set(self._u2))
        return [
            (silo, m.ShareDelivery(*self.context.fields(), tuple(routed[silo])))
            for silo in sorted(self._u2)
        ]

    # -- stage 2: MaskedInput -----------------------------------------------------------------

    def _on_masked(self, silo: str, msg: m.MaskedInput) -> None:
        rejected = check_masked_input(
            msg,
            silo=silo,
            dtype=self._dtype,
            length=self.params.vector_length,
            neighbourhood=self._closed[silo],
            commitments=self._commitments,
        )
        if self._sum is None:
            self._sum = np.zeros(self.params.vector_length, dtype=self._dtype)
        np.add(self._sum, msg.vector, out=self._sum)  # wraps mod 2^k by design
        for dealer in rejected:
            self._complaints.setdefault(dealer, set()).add(silo)
        self._state.answered[silo] = True

    def _close_masked(self) -> list[Outgoing]:
        u3 = sorted(self._state.answered)
        self._require(len(u3), "sent masked input")
        self._survivors = tuple(u3)
        self._survivor_set = frozenset(u3)
        self._dropped = frozenset(self._u2 - self._survivor_set)
        # Every silo signs the same bytes: build them once, not once per signature.
        self._consistency_payload = consistency_payload(
            self.context, self.digest, self._survivors, self._directory_digest
        )
        self._next_stage(set(u3))
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
        dropped = tuple(sorted(self._dropped))
        self._next_stage(set(signers))
        request = m.UnmaskRequest(*self.context.fields(), self._survivors, dropped, signatures)
        return [(silo, request) for silo in signers]

    # -- stage 4: Unmask ----------------------------------------------------------------------

    def _on_unmask(self, silo: str, msg: m.UnmaskResponse) -> None:
        self._state.answered[silo] = parse_unmask_response(
            msg,
            silo=silo,
            index=self._indices[silo],
            survivors=self._survivor_set,
            dropped=self._dropped,
            closed=self._closed,
            commitments=self._commitments,
            context=self.context,
            on_bad_share=self._blame,
        )

    def _blame(self, holder: str, dealer: str) -> str:
        """Name who is at fault for a revealed share that fails its commitment; returns why."""
        return blame(
            holder,
            dealer,
            signed=self._signed_shares[dealer],
            dealer_key=self._directory[dealer],
            context=self.context,
            digest=self.digest,
            culprits=self.culprits,
        )

    def _reconstruct(self, kind: str, owners: list[str]) -> dict[str, bytes]:
        return reconstruct(
            kind,
            owners,
            answers=self._state.answered.values(),
            threshold=self.params.threshold,
            complaints=self._complaints,
            culprits=self.culprits,
        )

    def _close_unmask(self) -> list[Outgoing]:
        self._require(len(self._state.answered), "answered the unmask request")
        survivors = list(self._survivors)
        dropped = sorted(self._dropped)
        seeds = self._reconstruct("b", survivors)
        keys = self._reconstruct("s", dropped)
        assert self._sum is not None
        total = self._sum
        lost = dropped_masks(
            dropped,
            keys,
            survivors=self._survivor_set,
            indices=self._indices,
            ads=self._ads,
            closed=self._closed,
            culprits=self.culprits,
        )
        unmask_sum(
            total,
            seeds=[MaskSeed(seeds[silo]) for silo in survivors],
            dropped=lost,
            context=self.context,
            executor=self._executor,
            parts=self._parts,
        )
        self.result = total
        self._sum = None
        self._finish()
        return []
