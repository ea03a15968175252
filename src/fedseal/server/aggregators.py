"""One interface for the three aggregation modes on the coordinator, and their registry.

A :class:`ServerAggregator` holds a mode's deployment-long setup and opens one sans-IO session
per round (:meth:`ServerAggregator.new_round`), an
:class:`~fedseal.protocol.round_control.AggregationSession`: in the train phase
:class:`~fedseal.protocol.round_control.RoundControl` hands it each silo's answer to the
``TrainRequest`` (``accept``: ready, or why not), and in the aggregation phase it turns the
ready silos into the summed integer vector ``[w*update, w, v, v*metrics]`` that the driver
decodes and hands to the strategy. The modes:

``masking``
    :class:`~fedseal.server.masking_round.MaskingAggregator`: pairwise masking SecAgg.
``paillier``
    :class:`PaillierMode`: inputs are threshold-Paillier ciphertexts, multiplied into the sum
    as they arrive (:mod:`fedseal.server.paillier_session`); the contributors decrypt the sum.
``none``
    :class:`PlaintextAggregator`: updates in clear, summed as they arrive. Insecure; for
    benchmarks only.

:func:`make_aggregator` is the registry: the only place a mode name becomes code.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.round_control import AggregationSession, RoundScope
from fedseal.protocol.round_events import Event, Step
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.driver_config import DriverConfig

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = [
    "PaillierMode",
    "PlaintextAggregator",
    "PlaintextSession",
    "ServerAggregator",
    "make_aggregator",
]


class ServerAggregator(Protocol):
    """The server side of one aggregation mode (see the module docstring)."""

    mode: str

    def new_round(self, scope: RoundScope, train_digest: bytes) -> AggregationSession:
        """The mode's session of one round (``train_digest``: of its ``TrainRequest``)."""

    def close(self) -> None:
        """Release what the setup holds, if anything."""


class PlaintextAggregator:
    """``aggregation = "none"``: each ``PlaintextInput`` is added to the sum as it arrives."""

    mode = "none"

    def __init__(self, config: DriverConfig, *, dim: int) -> None:
        self._spec = config.quantization
        self._length = self._spec.encoded_length(dim)

    def new_round(self, scope: RoundScope, train_digest: bytes) -> PlaintextSession:
        return PlaintextSession(self._spec, self._length)

    def close(self) -> None:
        """Nothing to release."""


class PlaintextSession:
    """One round of ``aggregation = "none"``: done as soon as the train phase is."""

    deadline = 0.0

    def __init__(self, spec: QuantizationSpec, length: int) -> None:
        self._spec = spec
        self.culprits: dict[str, str] = {}
        self.result: npt.NDArray[Any] | None = None
        self.abort_reason: str | None = None
        self.survivors: tuple[str, ...] = ()
        self._total = np.zeros(length, dtype=spec.dtype)

    @property
    def finished(self) -> bool:
        return self.result is not None

    def accept(self, silo: str, message: c.ToServer) -> str | None:
        if not isinstance(message, c.PlaintextInput):
            return f"unexpected {type(message).__name__}"
        v = message.vector
        if v.dtype != np.dtype(self._spec.dtype) or v.shape != self._total.shape:
            return "plaintext input of wrong shape or dtype"
        np.add(self._total, v, out=self._total)
        return None

    def start(self, ready: tuple[str, ...], now: float) -> Step:
        self.survivors, self.result = ready, self._total
        return Step()

    def handle(self, event: Event | None, now: float) -> Step:
        raise ProtocolViolation("the plaintext round has ended")

    def computed(self, key: tuple[Any, ...], result: Any, now: float) -> Step:
        raise ProtocolViolation("the plaintext round asks for no work")


class PaillierMode:
    """``aggregation = "paillier"``: see :mod:`fedseal.server.paillier_session`."""

    mode = "paillier"

    def __init__(self, config: DriverConfig, setup: PaillierAggregator) -> None:
        self._config = config
        self._setup = setup

    def new_round(self, scope: RoundScope, train_digest: bytes) -> AggregationSession:
        from fedseal.server.paillier_session import PaillierSession

        return PaillierSession(
            self._setup, scope, timeout_s=self._config.stage_timeout_s,
            bits=self._config.quantization.bits,
        )  # fmt: skip

    def close(self) -> None:
        self._setup.close()


def make_aggregator(
    config: DriverConfig,
    directory: Mapping[str, IdentityPublicKey],
    *,
    dim: int,
    paillier: PaillierAggregator | None = None,
    threads: tuple[Executor, int] | None = None,
) -> ServerAggregator:
    """The aggregator of ``config.aggregation``.

    ``threads`` (an executor and how many of its threads to use) is lent to the masking mode's
    last step of each round, removing the masks; the caller owns and shuts it down.

    Raises
    ------
    ConfigError
        For ``"paillier"`` without the deployment's key (``paillier``).
    """
    from fedseal.server.masking_round import MaskingAggregator

    if config.aggregation == "masking":
        executor, parts = threads or (None, 1)
        return MaskingAggregator(config, directory, dim=dim, executor=executor, parts=parts)
    if config.aggregation == "paillier":
        if paillier is None:
            raise ConfigError("aggregation = 'paillier' needs the deployment's Paillier key")
        return PaillierMode(config, paillier)
    if config.aggregation == "none":
        return PlaintextAggregator(config, dim=dim)
    raise ConfigError(f"aggregation must be one of {c.AGGREGATION_MODES}")
