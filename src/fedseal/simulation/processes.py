"""Local multi-process runs: start ``fedseal`` server and client processes on this machine.

``fedseal demo`` and ``fedseal bench grpc`` both run a deployment prepared by
:func:`fedseal.simulation.local_deployment.prepare_demo_deployment` as real processes on
loopback; these are the helpers they share: a free port, the ``fedseal`` command line of this
interpreter, and starting one silo's ``fedseal client``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["SiloProcess", "fedseal_command", "free_port", "spawn_silo"]


@dataclass
class SiloProcess:
    """A running ``fedseal client``: its silo, config, log file and process."""

    name: str
    config: Path
    log: IO[bytes]
    process: subprocess.Popen[bytes]
    restarted: bool = False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fedseal_command(*args: str) -> list[str]:
    """``fedseal ARGS`` with this interpreter."""
    return [sys.executable, "-m", "fedseal.cli", *args]


def spawn_silo(
    name: str,
    out: Path,
    env: dict[str, str],
    *,
    app: str,
    command: Sequence[str] | None = None,
) -> SiloProcess:
    """Start ``fedseal client --app APP`` for silo ``name`` of the deployment in ``out``; logs to
    ``out/logs/<name>.log`` (the caller closes ``log``). ``command`` replaces ``fedseal client``
    (it is given the same ``--config`` and ``--app`` arguments)."""
    config = out / "silos" / name / "silo.toml"
    log = open(out / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed by the caller
    program = list(command) if command is not None else fedseal_command("client")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [*program, "--config", str(config), "--app", app],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    return SiloProcess(name, config, log, process)
