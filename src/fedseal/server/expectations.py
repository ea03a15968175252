"""What a silo may send the server, and how large it may be: answers to requests, by size.

Theory of operation
-------------------
Every message a silo sends after its ``Hello`` answers one the server sent it: a
``TrainRequest`` is answered by the mode's input (``TrainReady``, ``PlaintextInput`` or
``PaillierInput``) or an ``Abstain``, a ``BeginRound`` by ``AdvertiseKeys``, and so on
(:data:`REPLIES`); any request may instead be answered by an ``AbortRound``. So the transport
keeps, per stream, the requests not answered yet (:class:`Expectations`): sending a request
grants one answer, receiving an answer spends it. A message no outstanding request allows --
a type the stage does not expect, a second answer (a replay), a flood of anything -- is a
protocol violation that closes the stream and makes the silo a dropout. That bounds a silo to
one message per request: a flood ends at its first surplus message.

Each kind of message also has a largest encoded size derived from the deployment
(:class:`MessageLimits`: the round's vector length and quantization, the number of silos, the
Paillier key). The first frame of a message names its kind
(:func:`~fedseal.protocol.wire.framing.silo_envelope_kind`), so an unexpected or oversized
message is refused from its first frame, before any memory is spent on it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fedseal.errors import MessageTooLarge, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol import messages as m
from fedseal.protocol.hello import Hello
from fedseal.server.driver_config import DriverConfig

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["REPLIES", "Expectations", "MessageLimits"]

#: Request the server sends -> the messages that answer it (an ``AbortRound`` answers any).
REPLIES: Mapping[type, frozenset[str]] = {
    c.TrainRequest: frozenset({"TrainReady", "Abstain", "PlaintextInput", "PaillierInput"}),
    m.BeginRound: frozenset({"AdvertiseKeys"}),
    m.KeyDirectory: frozenset({"ShareKeys"}),
    m.ShareDelivery: frozenset({"MaskedInput"}),
    m.ConsistencyRequest: frozenset({"ConsistencySignature"}),
    m.UnmaskRequest: frozenset({"UnmaskResponse"}),
    c.DecryptRequest: frozenset({"PartialDecryptionShare"}),
    c.CheckpointRequest: frozenset({"CheckpointCosign"}),
}
_ABORT = "AbortRound"
_HELLO = Hello.__name__

#: Fixed fields, ids, names, a signature, a reason: every message's overhead.
_SMALL = 8 << 10
#: One silo's entry in a list (a name, a share, a commitment): generous.
_PER_SILO = 1 << 10
#: A silo's own signed checkpoint record travels in its co-signature.
_COSIGN = 64 << 10
#: The model's layout (array names and shapes) travels in the Hello.
_HELLO_BYTES = 1 << 20
#: The plaintext-knowledge proof of a Paillier input (``serde.MAX_PROOF_BYTES``).
_PROOF = 4096


@dataclass(frozen=True)
class MessageLimits:
    """The largest encoded size of each kind of message a silo may send (by type name).

    A kind missing from ``sizes`` is never accepted (e.g. ``PlaintextInput`` under masking).
    """

    sizes: Mapping[str, int]

    def of(self, kind: str) -> int | None:
        """The limit of ``kind``, or None if the deployment never uses it."""
        return self.sizes.get(kind)

    @classmethod
    def for_deployment(
        cls,
        config: DriverConfig,
        *,
        dim: int,
        silos: int,
        ceiling: int,
        paillier: PaillierAggregator | None = None,
    ) -> MessageLimits:
        """Limits for a deployment of ``silos`` silos and a model of ``dim`` values.

        Parameters
        ----------
        config : DriverConfig
            Its mode and quantization fix the inputs' size.
        dim : int
        silos : int
            Silos provisioned: bounds lists of neighbours, shares and names.
        ceiling : int
            ``max_message_bytes``: no limit exceeds it.
        paillier : PaillierAggregator, optional
            The key and packing of ``aggregation = "paillier"``; without it the Paillier
            messages get ``ceiling``.
        """
        spec = config.quantization
        vector = spec.encoded_length(dim) * spec.dtype(0).itemsize
        names = silos * _PER_SILO
        sizes = {
            _HELLO: _HELLO_BYTES,
            "TrainReady": _SMALL,
            "Abstain": _SMALL,
            _ABORT: _SMALL,
            "CheckpointCosign": _COSIGN,
        }
        if config.aggregation == "masking":
            sizes.update(
                AdvertiseKeys=_SMALL, ShareKeys=_SMALL + names, MaskedInput=_SMALL + vector + names,
                ConsistencySignature=_SMALL, UnmaskResponse=_SMALL + names,
            )  # fmt: skip
        elif config.aggregation == "none":
            sizes["PlaintextInput"] = _SMALL + vector
        elif paillier is None:
            sizes.update(PaillierInput=ceiling, PartialDecryptionShare=ceiling)
        else:
            public = paillier.key.public_key
            ciphertexts = public.ciphertext_bytes * paillier.layout.count
            response = public.ciphertext_bytes + public.delta.bit_length() // 8 + 64
            sizes.update(
                PaillierInput=_SMALL + ciphertexts + _PROOF,
                PartialDecryptionShare=_SMALL + ciphertexts + response,
            )
        return cls({kind: min(size, ceiling) for kind, size in sizes.items()})


class Expectations:
    """The unanswered requests of one silo's stream (see the module docstring).

    Parameters
    ----------
    limits : MessageLimits
    max_outstanding : int
        Requests remembered; past it the oldest is forgotten (a silo that answers nothing
        cannot bank answers for later).
    """

    def __init__(self, limits: MessageLimits, *, max_outstanding: int = 16) -> None:
        self._limits = limits
        self._hello = True  # the first message of a stream is its Hello, and only the first
        self._open: deque[frozenset[str]] = deque(maxlen=max_outstanding)

    def grant(self, request: object) -> None:
        """``request`` is being sent to the silo: it may answer it once."""
        replies = REPLIES.get(type(request))
        if replies is not None:
            self._open.append(replies)

    def limit_for(self, kind: str) -> int:
        """The largest size of the next message, of type ``kind``, if the silo may send it.

        Raises
        ------
        ProtocolViolation
            If no unanswered request allows ``kind`` (or the deployment never uses it).
        """
        if not self._allowed(kind):
            waiting = sorted({k for replies in self._open for k in replies})
            raise ProtocolViolation(
                f"unexpected {kind}: answers awaited from this silo: {waiting or 'none'}"
            )
        limit = self._limits.of(kind)
        if limit is None:
            raise ProtocolViolation(f"{kind} is not used by this deployment")
        return limit

    def spend(self, message: object, size: int) -> None:
        """``message`` (``size`` encoded bytes) arrived: it answers the oldest request it can.

        Raises
        ------
        ProtocolViolation
            If nothing allows it (``MessageTooLarge`` if it exceeds its own kind's limit: a
            payload whose first bytes named a smaller kind).
        """
        kind = type(message).__name__
        if size > self.limit_for(kind):
            raise MessageTooLarge(f"a {kind} of {size} bytes exceeds its limit")
        if kind == _HELLO:
            self._hello = False
            return
        for i, replies in enumerate(self._open):
            if kind in replies or kind == _ABORT:
                del self._open[i]
                return

    def _allowed(self, kind: str) -> bool:
        if kind == _HELLO:
            return self._hello
        if self._hello:
            return False
        return any(kind in replies or kind == _ABORT for replies in self._open)
