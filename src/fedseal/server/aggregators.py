"""One interface for the three aggregation modes on the coordinator, and their registry.

A round has a train phase and an aggregation phase. In the train phase the driver collects each
silo's answer to the ``TrainRequest`` (:func:`fedseal.server.events.gather`) and hands it to
the mode's :meth:`ServerAggregator.accept`, which makes the silo ready (``None``) or says why it
is a dropout. In the aggregation phase :meth:`ServerAggregator.aggregate` turns the ready silos
into the summed integer vector ``[w*update, w, v, v*metrics]`` that the driver decodes and hands
to the strategy. The modes:

``masking``
    :class:`~fedseal.server.masking_round.MaskingAggregator`: pairwise masking SecAgg.
``paillier``
    :class:`PaillierMode`: inputs are threshold-Paillier ciphertexts, multiplied into the sum
    as they arrive (:mod:`fedseal.server.paillier_round`); the contributors decrypt the sum.
``none``
    :class:`PlaintextAggregator`: updates in clear, summed as they arrive. Insecure; for
    benchmarks only.

:func:`make_aggregator` is the registry: the only place a mode name becomes code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from fedseal.audit import events as ev
from fedseal.errors import ConfigError, FedsealError
from fedseal.protocol import control as c
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.server.driver_config import DriverConfig
from fedseal.server.events import RoundIO
from fedseal.server.summary import RoundSummary

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator, PaillierRound

__all__ = ["PaillierMode", "PlaintextAggregator", "ServerAggregator", "make_aggregator"]

log = logging.getLogger("fedseal.server")


class ServerAggregator(Protocol):
    """The server side of one aggregation mode (see the module docstring)."""

    mode: str
    #: Silos found misbehaving in the last round, with the reason: the driver excludes them.
    culprits: dict[str, str]

    def begin(self, round_id: int) -> None:
        """Start round ``round_id`` with fresh state."""

    async def accept(self, silo: str, message: c.ToServer) -> str | None:
        """A silo's answer to the ``TrainRequest``: None if it is ready, else why it is not."""

    async def aggregate(self, io: RoundIO, summary: RoundSummary) -> npt.NDArray[Any]:
        """The summed integer vector of the round; sets ``summary.survivors``."""

    def close(self) -> None:
        """Release worker threads, if any."""


class PlaintextAggregator:
    """``aggregation = "none"``: each ``PlaintextInput`` is added to the sum as it arrives."""

    mode = "none"

    def __init__(self, config: DriverConfig, *, dim: int) -> None:
        self._spec = config.quantization
        self._length = self._spec.encoded_length(dim)
        self.culprits: dict[str, str] = {}
        self._total = np.zeros(self._length, dtype=self._spec.dtype)

    def begin(self, round_id: int) -> None:
        self._total = np.zeros(self._length, dtype=self._spec.dtype)

    async def accept(self, silo: str, message: c.ToServer) -> str | None:
        if not isinstance(message, c.PlaintextInput):
            return f"unexpected {type(message).__name__}"
        v = message.vector
        if v.dtype != np.dtype(self._spec.dtype) or v.shape != self._total.shape:
            return "plaintext input of wrong shape or dtype"
        np.add(self._total, v, out=self._total)
        return None

    async def aggregate(self, io: RoundIO, summary: RoundSummary) -> npt.NDArray[Any]:
        summary.survivors = summary.ready
        return self._total

    def close(self) -> None:
        """Nothing to release."""


class PaillierMode:
    """``aggregation = "paillier"``: see :mod:`fedseal.server.paillier_round`."""

    mode = "paillier"

    def __init__(self, config: DriverConfig, setup: PaillierAggregator) -> None:
        self._config = config
        self._setup = setup
        self._round: PaillierRound | None = None
        self.culprits: dict[str, str] = {}

    def begin(self, round_id: int) -> None:
        self._round = self._setup.new_round(round_id)

    async def accept(self, silo: str, message: c.ToServer) -> str | None:
        if not isinstance(message, c.PaillierInput) or self._round is None:
            return f"unexpected {type(message).__name__}"
        try:
            # The proof check takes a fraction of a second: off the event loop, so the
            # transport keeps serving; inputs are still added one at a time.
            await asyncio.to_thread(self._round.add_input, silo, message)
        except FedsealError as exc:
            return f"invalid Paillier input: {exc}"
        return None

    async def aggregate(self, io: RoundIO, summary: RoundSummary) -> npt.NDArray[Any]:
        from fedseal.server.paillier_round import decrypt_round

        assert self._round is not None, "begin() comes first"
        key = self._setup.key.public_key
        io.audit(
            ev.ROUND_STARTED, n=len(summary.ready), t=key.threshold,
            bits=self._config.quantization.bits, key_bits=key.key_bits,
            participants=list(summary.ready), aggregation=self.mode,
        )  # fmt: skip
        summary.survivors = summary.ready
        total, decryption = await decrypt_round(
            io, self._round, timeout_s=self._config.stage_timeout_s
        )
        log.info(
            "round %d: %d contributions decrypted with the partials of %s",
            summary.round_id, len(self._round.contributors), list(decryption.used),
        )  # fmt: skip
        return total

    def close(self) -> None:
        self._setup.close()


def make_aggregator(
    config: DriverConfig,
    directory: Mapping[str, IdentityPublicKey],
    *,
    dim: int,
    paillier: PaillierAggregator | None = None,
) -> ServerAggregator:
    """The aggregator of ``config.aggregation``.

    Raises
    ------
    ConfigError
        For ``"paillier"`` without the deployment's key (``paillier``).
    """
    from fedseal.server.masking_round import MaskingAggregator

    if config.aggregation == "masking":
        return MaskingAggregator(config, directory, dim=dim)
    if config.aggregation == "paillier":
        if paillier is None:
            raise ConfigError("aggregation = 'paillier' needs the deployment's Paillier key")
        return PaillierMode(config, paillier)
    if config.aggregation == "none":
        return PlaintextAggregator(config, dim=dim)
    raise ConfigError(f"aggregation must be one of {c.AGGREGATION_MODES}")
