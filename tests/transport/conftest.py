"""A real deployment in one test process: provisioned certificates, mTLS gRPC on loopback.

The coordinator runs :func:`fedseal.server.app.serve` on its own event loop in a thread; each
silo runs :class:`~fedseal.client.grpc_client.GrpcSiloClient` in a thread. Every wait is
bounded; threads are daemons and are joined with timeouts.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedseal.audit.log import AuditLog
from fedseal.client.agent import SiloAgent
from fedseal.client.run import make_client
from fedseal.config import ServerConfig, SiloConfig, load_server_config, load_silo_config
from fedseal.deploy.layout import read_raw, write_config
from fedseal.deploy.provision import provision
from fedseal.server.app import serve
from fedseal.server.driver import RoundSummary

DIM = 8
JOIN_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FixedApp:
    """Sends the update ``u`` (a constant per silo); ``n`` is also its declared FedAvg weight."""

    def __init__(self, u: np.ndarray[Any, Any], n: int) -> None:
        self.u, self.n = u, n

    def get_weights(self) -> np.ndarray[Any, Any]:
        return np.zeros(DIM)

    def fit(self, weights: Any, config: Mapping[str, Any]) -> tuple[Any, int, dict[str, float]]:
        return weights + self.u, self.n, {}

    def evaluate(
        self, weights: Any, config: Mapping[str, Any]
    ) -> tuple[float, int, dict[str, float]]:
        return 0.5, self.n, {"accuracy": 0.75}


@dataclass
class Deployment:
    root: Path
    server: ServerConfig
    silos: dict[str, SiloConfig]
    apps: dict[str, FixedApp]
    init: Path
    summaries: list[RoundSummary] = field(default_factory=list)

    def expected_mean(self, survivors: tuple[str, ...]) -> np.ndarray[Any, Any]:
        total = sum(self.apps[s].n * self.apps[s].u for s in survivors)
        return total / sum(self.apps[s].n for s in survivors)


def make_deployment(
    tmp_path: Path,
    names: list[str],
    *,
    server: Mapping[str, Any] | None = None,
    provision_options: Mapping[str, Any] | None = None,
) -> Deployment:
    root = tmp_path / "deployment"
    port = free_port()
    result = provision(
        deployment="test", silos=names, out=root, host="127.0.0.1", port=port,
        **(provision_options or {}),
    )  # fmt: skip
    doc = read_raw(Path(result.server_config))
    doc.update(rounds=1, min_participants=2, stage_timeout_s=10.0, train_timeout_s=10.0)
    doc.update(connect_timeout_s=15.0, clip=1.0)
    doc.update(server or {})
    write_config(Path(result.server_config), doc, "server")
    silos = {}
    weights = {n: 10 + 5 * i for i, n in enumerate(names)}
    for name in names:
        path = root / "silos" / name / "silo.toml"
        silo_doc = read_raw(path)
        silo_doc["fedavg_weight"] = weights[name]  # declared, public: FixedApp's n
        silo_doc["reconnect_max_s"] = 1.0
        silo_doc["min_participants"] = 2  # as the server's: the tests drop silos down to 2
        silo_doc["dp"] = {"enabled": False}
        write_config(path, silo_doc, name)
        silos[name] = load_silo_config(path)
    rng = np.random.default_rng(7)
    apps = {n: FixedApp(rng.uniform(-0.5, 0.5, DIM), weights[n]) for n in names}
    init = root / "init.npy"
    np.save(init, np.zeros(DIM), allow_pickle=False)
    return Deployment(root, load_server_config(Path(result.server_config)), silos, apps, init)


class Crash(Exception):
    """Raised inside a silo's agent: its thread ends and its connection drops."""


def crashing_agent(on: type) -> type[SiloAgent]:
    """A SiloAgent that crashes when it is handed a message of type ``on``."""

    class Crashing(SiloAgent):
        def handle(self, message: Any) -> Any:
            if isinstance(message, on):
                raise Crash(f"crash on {on.__name__}")
            return super().handle(message)

    return Crashing


class ServerThread:
    """``serve`` on its own loop; ``stop()`` cancels it as a signal would."""

    def __init__(self, dep: Deployment, config: ServerConfig | None = None) -> None:
        self.dep = dep
        self.config = config or dep.server
        self.listening = threading.Event()
        self.error: BaseException | None = None
        self.result: list[RoundSummary] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self.result = await serve(
                self.config,
                init_model=self.dep.init,
                on_round=self.dep.summaries.append,
                on_listening=lambda _: self.listening.set(),
            )

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test
            self.error = exc
        finally:
            self.listening.set()

    def start(self) -> ServerThread:
        self.thread.start()
        assert self.listening.wait(JOIN_S)
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._task is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(JOIN_S)

    def join(self) -> None:
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive(), "server did not finish in time"


class SiloThread:
    def __init__(
        self,
        dep: Deployment,
        name: str,
        *,
        agent_type: Callable[..., SiloAgent] = SiloAgent,
        give_up_after_s: float = 20.0,
        audit: AuditLog | None = None,
    ) -> None:
        self.client = make_client(
            dep.silos[name], dep.apps[name], audit=audit, agent_type=agent_type,
            give_up_after_s=give_up_after_s,
        )  # fmt: skip
        self.status: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.status = self.client.run()
        except BaseException as exc:  # reported to the test
            self.error = exc

    def start(self) -> SiloThread:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive(), "silo did not finish in time"


@pytest.fixture
def names() -> list[str]:
    return ["hospital-a", "hospital-b", "hospital-c", "hospital-d"]


@pytest.fixture
def started() -> Iterator[list[Any]]:
    """Threads to wind down at the end of a test, whatever happened."""
    threads: list[Any] = []
    yield threads
    for t in threads:
        if isinstance(t, ServerThread) and t.thread.is_alive() and t._task is not None:
            t.stop()
