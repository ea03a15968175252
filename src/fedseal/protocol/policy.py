"""A silo's round policy: what it accepts from the server, fixed at provisioning.

Theory of operation
-------------------
The server proposes every round's parameters (participants, graph kind, ``k``, ``t``, vector
length, modulus). A malicious server would propose a round of two silos, a sparse graph of
degree 2, or a complete graph labelled "sparse", and read one silo's input out of the sum. The
silo therefore judges each proposal against its *own* provisioned settings before it sends
anything (SECURITY.md, "What is promised"):

- the roster size ``N`` is the number of silos in the silo's own ``silo.toml``; the tolerated
  colluders ``a = floor(corruption * N)`` come from it, never from the server's ``n``;
- a round of fewer than ``min_participants`` silos, or fewer than ``a + 2``, is refused;
- the silo recomputes the graph kind, ``k`` and ``t`` with the one formula
  (:func:`fedseal.secagg.graph.round_parameters`) and refuses another kind, another ``k`` or
  a smaller ``t``.

:func:`default_min_participants` is the value ``fedseal provision`` writes into both
``silo.toml`` and ``server.toml``; ``docs/secagg.md`` explains the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol.messages import RoundParams
from fedseal.secagg.graph import FULL_GRAPH_MAX, GraphParams, corrupt_count, round_parameters

__all__ = ["ClientPolicy", "default_min_participants"]


def default_min_participants(roster_size: int, corruption: float = 0.05) -> int:
    """The provisioned default: ``max(3, ceil(N / 2), a + 2)``, capped at ``N``.

    Three so that a released sum always mixes at least two other silos' inputs with any one
    silo's; half the roster so that a server cannot run rounds on small hand-picked subsets;
    ``a + 2`` because no threshold protects a smaller round against ``a`` colluders.
    """
    if roster_size < 2:
        raise ConfigError(f"a deployment needs at least 2 silos, got {roster_size}")
    a = corrupt_count(roster_size, corruption)
    return min(roster_size, max(3, math.ceil(roster_size / 2), a + 2))


@dataclass(frozen=True, kw_only=True)
class ClientPolicy:
    """The silo's own security requirements, checked against every round the server proposes.

    Parameters
    ----------
    roster_size : int, optional
        ``N``, the number of silos provisioned in the deployment. ``None`` (library use) means
        the size of the identity directory the session is given.
    corruption : float
        Largest fraction of the *roster* assumed to collude with the server.
    dropout : float
        Dropout rate the sparse graph is sized for (part of the formula, so provisioned).
    min_participants : int
        Fewest silos in a round this silo takes part in (at least 2).
    full_graph_max : int
        Rounds of at most this many silos must use the complete graph.
    allowed_modulus_bits : tuple of int
        Moduli the silo accepts.
    """

    roster_size: int | None = None
    corruption: float = 0.05
    dropout: float = 0.1
    min_participants: int = 2
    full_graph_max: int = FULL_GRAPH_MAX
    allowed_modulus_bits: tuple[int, ...] = (32, 64)

    def __post_init__(self) -> None:
        if not 0.0 <= self.corruption < 0.5:
            raise ConfigError(f"corruption must be in [0, 0.5), got {self.corruption}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.min_participants < 2:
            raise ConfigError(f"min_participants must be >= 2, got {self.min_participants}")
        if self.roster_size is not None and self.roster_size < self.min_participants:
            raise ConfigError(
                f"min_participants ({self.min_participants}) exceeds the roster "
                f"({self.roster_size} silos)"
            )
        if self.full_graph_max < 0:
            raise ConfigError(f"full_graph_max must be >= 0, got {self.full_graph_max}")

    def corrupt(self, roster_size: int) -> int:
        """Tolerated colluders ``a`` for a roster of ``roster_size`` (if none is configured)."""
        return corrupt_count(self.roster_size or roster_size, self.corruption)

    def required(self, n: int, roster_size: int) -> GraphParams:
        """The graph a round of ``n`` silos must use (raises ConfigError if none is safe)."""
        return round_parameters(
            n,
            corrupt=self.corrupt(roster_size),
            dropout=self.dropout,
            full_graph_max=self.full_graph_max,
        )

    def check(self, params: RoundParams, roster_size: int) -> GraphParams:
        """Return the round's graph if ``params`` meets this policy.

        Raises
        ------
        ProtocolViolation
            Naming the first requirement the proposal breaks. Nothing was sent yet.
        """
        n = len(params.participants)
        if n < self.min_participants:
            raise ProtocolViolation(
                f"round has {n} silos; this silo's min_participants is {self.min_participants}"
            )
        if params.modulus_bits not in self.allowed_modulus_bits or params.vector_length < 1:
            raise ProtocolViolation("round has an unacceptable modulus or vector length")
        try:
            need = self.required(n, roster_size)
            proposed = GraphParams(params.graph, n, params.k, params.threshold)
        except ConfigError as exc:
            raise ProtocolViolation(f"round refused: {exc}") from None
        if proposed.kind is not need.kind or proposed.k != need.k:
            raise ProtocolViolation(
                f"round proposes a {proposed.kind.value} graph of degree {proposed.k}; this "
                f"silo's policy needs {need.kind.value} of degree {need.k} for {n} silos"
            )
        if proposed.threshold < need.threshold:
            raise ProtocolViolation(
                f"threshold {proposed.threshold} is below the safe minimum {need.threshold} "
                f"for {n} silos"
            )
        return proposed
