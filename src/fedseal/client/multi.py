"""Several silos in one process: ``fedseal client --config A --config B ...`` (load tests).

Each silo keeps its own identity, certificate, state directory, audit log, agent and gRPC
stream, exactly as if it ran alone (:func:`fedseal.client.run.open_silo`); they only share the
process, so a test or a benchmark can run a hundred silos in a few processes instead of a
hundred. Each silo runs in its own thread; the process exits with the worst status of its
silos once all of them have finished.

Warnings
--------
For load tests and benchmarks. The silos of one process share its memory, so a deployment
must never host silos of different organisations in one process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from contextlib import ExitStack

from fedseal.client.grpc_client import GrpcSiloClient
from fedseal.client.run import open_silo

__all__ = ["run_silos"]

log = logging.getLogger("fedseal.client")


def run_silos(config_paths: Sequence[str | os.PathLike[str]], app_spec: str | None) -> int:
    """Run the silos of ``config_paths`` side by side until each has finished.

    Parameters
    ----------
    config_paths : sequence of path
        One ``silo.toml`` per silo (each with its own identity).
    app_spec : str, optional
        ``module:function`` of the app every silo loads (one instance per silo).

    Returns
    -------
    int
        0 if every silo finished cleanly, else the largest exit status of a silo (1 for a silo
        that raised).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(threadName)s %(levelname)s %(message)s"
    )
    statuses: dict[str, int] = {}
    with ExitStack() as stack:
        clients = [open_silo(path, app_spec, stack) for path in config_paths]
        threads = [
            threading.Thread(
                target=_run, args=(client, statuses), name=client.agent.silo, daemon=True
            )
            for client in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each client stops by itself (Finish, or give_up_after_s)
    failed = sorted(name for name, status in statuses.items() if status)
    if failed:
        log.error("%d of %d silos did not finish cleanly: %s", len(failed), len(clients),
                  ", ".join(failed))  # fmt: skip
    return max(statuses.values(), default=1)


def _run(client: GrpcSiloClient, statuses: dict[str, int]) -> None:
    name = client.agent.silo
    try:
        statuses[name] = client.run()
    except Exception:
        log.exception("silo %s stopped with an error", name)
        statuses[name] = 1
