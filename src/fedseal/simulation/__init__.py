"""Running fedseal on one machine: in one process, or as local processes.

- :mod:`~fedseal.simulation.inprocess`: :class:`SimulatedDeployment`, whole SecAgg rounds with
  every silo in this process on the real sans-IO sessions (tests, benchmarks, research);
- :mod:`~fedseal.simulation.loopback`: a whole deployment on one event loop -- the real round
  driver and silo agents, every aggregation mode and strategy -- with in-memory links instead
  of gRPC (its parties are built by :mod:`~fedseal.simulation.loopback_setup`);
- :mod:`~fedseal.simulation.fedavg`: federated training on a loopback deployment with the numpy
  logistic regression of :mod:`~fedseal.simulation.logreg` (``fedseal simulate``, whose
  sub-command is :mod:`~fedseal.simulation.cli`);
- :mod:`~fedseal.simulation.data`: the breast-cancer split over hospitals and the silo names;
- :mod:`~fedseal.simulation.local_deployment`: a throw-away deployment provisioned on loopback;
- :mod:`~fedseal.simulation.processes`: starting ``fedseal`` processes on this machine.

``fedseal demo`` and ``fedseal bench`` build on these; nothing here imports them. The names of
:mod:`~fedseal.simulation.inprocess` are re-exported here, loaded on first use so that the
``simulate`` sub-command's module stays light to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedseal.simulation.inprocess import (
        RoundOutcome,
        SimulatedDeployment,
        simulated_train_digest,
    )

__all__ = ["RoundOutcome", "SimulatedDeployment", "simulated_train_digest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fedseal.simulation import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
