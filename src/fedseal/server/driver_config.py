"""The round driver's settings: what :class:`~fedseal.server.driver.RoundDriver` needs to know.

Filled from ``server.toml`` by :func:`fedseal.server.app.driver_config`; the defaults serve
tests and the in-process simulation. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.secagg.graph import FULL_GRAPH_MAX
from fedseal.secagg.quantize import QuantizationSpec

__all__ = ["DriverConfig"]


@dataclass(frozen=True, kw_only=True)
class DriverConfig:
    """What the driver needs from the server's configuration (all validated by the loader).

    :func:`fedseal.server.app.driver_config` fills every field from ``server.toml``; the
    defaults here serve tests and the in-process simulation.
    """

    deployment_id: str
    rounds: int
    min_silos: int
    aggregation: str
    quantization: QuantizationSpec
    train_timeout_s: float
    stage_timeout_s: float
    connect_timeout_s: float
    #: With fewer than ``min_silos`` connected: stop after this many seconds (0: keep waiting).
    connect_give_up_s: float = 0.0
    checkpoint_timeout_s: float = 10.0
    corruption: float = 0.05
    dropout: float = 0.1
    full_graph_max: int = FULL_GRAPH_MAX
    #: ``N``, every provisioned silo (revoked ones included, as in each silo's own roster);
    #: 0 means the size of the driver's directory.
    roster_size: int = 0

    def __post_init__(self) -> None:
        if self.aggregation not in c.AGGREGATION_MODES:
            raise ConfigError(f"aggregation must be one of {c.AGGREGATION_MODES}")
        if self.rounds < 1 or self.min_silos < 2:
            raise ConfigError("rounds must be >= 1 and min_silos >= 2")
        if self.full_graph_max < 0:
            raise ConfigError(f"full_graph_max must be >= 0, got {self.full_graph_max}")
