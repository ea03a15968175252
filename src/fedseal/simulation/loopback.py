"""A whole deployment in one process, on one asyncio loop, with no transport at all.

The coordinator is the real :class:`~fedseal.server.driver.RoundDriver` (its
:class:`~fedseal.server.driver_config.DriverConfig`, a
:class:`~fedseal.server.strategy.Strategy` from :func:`~fedseal.server.strategy.build_strategy`,
a :class:`~fedseal.server.state.ServerState` and the aggregator of the mode,
:func:`~fedseal.server.aggregators.make_aggregator`); every silo is the real
:class:`~fedseal.client.agent.SiloAgent` around any
:class:`~fedseal.client.app.SiloApp`. All of them are built as a deployment builds them
(:mod:`fedseal.simulation.loopback_setup`), so the three aggregation modes (``masking``,
``paillier``, ``none``) and every strategy run exactly as deployed, each party with its own
state directory and audit log (in a temporary directory unless one is given).

Only the gRPC transport is replaced: a silo's link hands each message the driver sends to the
silo's agent (``agent.handle``) on a later turn of the loop (``loop.call_soon``) and feeds the
agent's replies back with ``driver.received``, again on a later turn, so neither side is ever
entered from inside the other; ``Finish`` (or the driver closing the link) ends the silo. An
agent that raises is treated as a silo process that died: its connection drops.

A :class:`~fedseal.simulation.loopback_setup.Dropout` makes a silo lose its connection when it
is handed a given message type in a given round, as a silo whose network failed would: the
link, not the agent, drops it (the agent abandons its round, the driver sees a disconnect) and
by default the silo reconnects at once with the same agent, to take part in the next round.
Every wait is bounded: by the driver's own timeouts, and the whole run by
``LoopbackConfig.timeout_s``.

Examples
--------
>>> config = LoopbackConfig(rounds=3, aggregation="masking")             # doctest: +SKIP
>>> result = run_loopback({"a": app_a, "b": app_b, "c": app_c}, np.zeros(8), config)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.client.agent import SiloAgent
from fedseal.client.app import SiloApp
from fedseal.errors import ConfigError, RoundAbortedError
from fedseal.protocol import control as c
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.server.driver import RoundDriver, RoundSummary
from fedseal.server.state import ServerState
from fedseal.server.strategy import build_strategy
from fedseal.simulation.loopback_setup import Dropout, LoopbackConfig, make_parties
from fedseal.simulation.silo_runner import SiloRunner

__all__ = ["Dropout", "LoopbackConfig", "LoopbackResult", "run_loopback", "serve_loopback"]

log = logging.getLogger("fedseal.simulation")

Weights = npt.NDArray[np.float64]

#: How long the silos get to take in ``Finish`` once the driver is done.
_FINISH_WAIT_S = 10.0


@dataclass
class LoopbackResult:
    """Every round's summary (aborted attempts included) and the final global model."""

    summaries: list[RoundSummary]
    weights: Weights


class _Link:
    """One silo's connection, as the driver sees it (a :class:`~fedseal.server.events.Link`)."""

    def __init__(self, net: _Network, silo: str) -> None:
        self.net, self.silo, self.open = net, silo, True

    def send(self, message: c.ToSilo) -> None:
        if self.open:
            asyncio.get_running_loop().call_soon(self.net.deliver, self, message)

    def close(self, reason: str) -> None:
        if self.open:
            self.open = False
            log.debug("link of %s closed: %s", self.silo, reason)
            agent = self.net.agents[self.silo]
            self.net.runner.run(self.silo, agent.connection_lost, lambda _: None)


class _Network:
    """The in-memory links between the driver and the agents, and the scripted dropouts."""

    def __init__(
        self,
        driver: RoundDriver,
        agents: Mapping[str, SiloAgent],
        dropouts: tuple[Dropout, ...],
        runner: SiloRunner,
    ) -> None:
        self.driver, self.agents, self.runner = driver, dict(agents), runner
        self._dropouts = list(dropouts)
        self._links: dict[str, _Link] = {}
        self._finished: set[str] = set()
        self._all_finished = asyncio.Event()

    def connect(self, silo: str) -> None:
        self.runner.run(silo, self.agents[silo].hello, lambda hello: self._introduce(silo, hello))

    def _introduce(self, silo: str, hello: Any) -> None:
        if isinstance(hello, Exception):
            log.error("%s cannot say hello: %s", silo, hello)
            self._finish(silo)
            return
        refusal = self.driver.introduce(silo, hello)
        if refusal is not None:  # a silo process would log it and (if final) exit
            log.error("%s refused by the server: %s", silo, refusal.reason)
            self._finish(silo)
            return
        self._links[silo] = link = _Link(self, silo)
        self.driver.connected(silo, link)

    def _gone(self, link: _Link, *, rejoin: bool) -> None:
        link.close("connection lost")
        self.driver.disconnected(link.silo, link)
        if rejoin:
            asyncio.get_running_loop().call_soon(self.connect, link.silo)
        else:
            self._finish(link.silo)

    def _finish(self, silo: str) -> None:
        self._finished.add(silo)
        if self._finished >= set(self.agents):
            self._all_finished.set()

    def _scripted_drop(self, silo: str, message: c.ToSilo) -> Dropout | None:
        for drop in self._dropouts:
            due = drop.silo == silo and c.round_of(message) == drop.round_id
            if due and isinstance(message, drop.on):
                self._dropouts.remove(drop)
                return drop
        return None

    def deliver(self, link: _Link, message: c.ToSilo) -> None:
        """Hand ``message`` to the silo's agent; its replies reach the driver on a later turn."""
        if not link.open:
            return
        silo = link.silo
        drop = self._scripted_drop(silo, message)
        if drop is not None:
            log.info("%s drops on %s in round %d", silo, drop.on.__name__, drop.round_id)
            self._gone(link, rejoin=drop.rejoin)
            return
        agent = self.agents[silo]
        self.runner.run(
            silo, lambda: agent.handle(message), lambda out: self._answered(link, message, out)
        )

    def _answered(self, link: _Link, message: c.ToSilo, outcome: Any) -> None:
        silo = link.silo
        if isinstance(outcome, Exception):  # a silo process would die here: its link drops
            log.error("%s failed on %s; it leaves the deployment", silo,
                      type(message).__name__, exc_info=outcome)  # fmt: skip
            if link.open:
                self._gone(link, rejoin=False)
            return
        if not link.open:
            return
        replies, finished = outcome
        loop = asyncio.get_running_loop()
        for reply in replies:
            loop.call_soon(self.driver.received, silo, reply)
        if finished:
            link.open = False
            self._finish(silo)

    async def run(self) -> list[RoundSummary]:
        for silo in sorted(self.agents):
            self.connect(silo)
        try:
            summaries = await self.driver.run()
            try:  # the Finish messages are on their way
                await asyncio.wait_for(self._all_finished.wait(), _FINISH_WAIT_S)
            except TimeoutError:
                log.warning("silos not finished: %s", sorted(set(self.agents) - self._finished))
            return summaries
        finally:
            for link in self._links.values():
                link.close("the deployment is over")


async def serve_loopback(
    apps: Mapping[str, SiloApp],
    initial: Weights,
    config: LoopbackConfig,
    *,
    state_dir: Path | None = None,
    rng_for: Callable[[str], RandomSource] | None = None,
    on_round: Callable[[RoundSummary, Weights], None] | None = None,
) -> LoopbackResult:
    """Run ``config.rounds`` rounds of the deployment of ``apps`` on the running event loop.

    Parameters
    ----------
    apps : mapping of str to SiloApp
        The silos (by name) and their training code.
    initial : ndarray of float64
        The global model before round 1.
    config : LoopbackConfig
        The deployment's settings (mode, strategy, policy, timeouts, scripted dropouts).
    state_dir : Path, optional
        Where the server's (``server/``) and the silos' (``silos/<name>/``) state and audit logs
        go; must be empty or missing. Default: a temporary directory, removed afterwards.
    rng_for : callable, optional
        ``rng_for(silo)``: the silo agent's randomness (default ``SystemRandomSource``).
    on_round : callable, optional
        Called with each round's summary and the global model after it.

    Returns
    -------
    LoopbackResult

    Raises
    ------
    ConfigError
        For fewer than 2 silos, a dropout of an unknown silo, or a non-empty ``state_dir``.
    RoundAbortedError
        If rounds keep failing (the driver gives up), or the run outlasts ``config.timeout_s``.
    """
    if state_dir is None:
        with tempfile.TemporaryDirectory(prefix="fedseal-loopback-") as tmp:
            return await serve_loopback(
                apps, initial, config, state_dir=Path(tmp), rng_for=rng_for, on_round=on_round
            )
    if len(apps) < 2 or any(d.silo not in apps for d in config.dropouts):
        raise ConfigError("need at least 2 silos, and scripted dropouts of those silos only")
    if state_dir.exists() and any(state_dir.iterdir()):
        raise ConfigError(f"state_dir {state_dir} is not empty")
    strategy = build_strategy(config.strategy, np.asarray(initial, dtype=np.float64).ravel())
    with contextlib.ExitStack() as stack:
        parties = make_parties(
            apps, config, dim=strategy.dim, state_dir=state_dir, stack=stack, rng_for=rng_for
        )

        def report(summary: RoundSummary) -> None:
            if on_round is not None:  # the strategy is the driver's: its weights are the model
                on_round(summary, strategy.weights.copy())

        driver = RoundDriver(
            parties.settings,
            directory=parties.directory,
            strategy=strategy,
            state=ServerState(state_dir / "server", deployment_id=config.deployment_id),
            audit=parties.server_audit,
            on_round=report,
            paillier=parties.paillier,
        )
        runner = SiloRunner(sorted(parties.agents), threads=config.silo_threads)
        stack.callback(runner.close)
        network = _Network(driver, parties.agents, config.dropouts, runner)
        try:
            summaries = await asyncio.wait_for(network.run(), config.timeout_s)
        except TimeoutError:
            raise RoundAbortedError(
                f"the loopback deployment did not finish within {config.timeout_s:g} s"
            ) from None
        return LoopbackResult(summaries, driver.strategy.weights.copy())


def run_loopback(
    apps: Mapping[str, SiloApp],
    initial: Weights,
    config: LoopbackConfig,
    *,
    state_dir: Path | None = None,
    rng_for: Callable[[str], RandomSource] | None = None,
    on_round: Callable[[RoundSummary, Weights], None] | None = None,
) -> LoopbackResult:
    """:func:`serve_loopback` on a new event loop (``asyncio.run``), with the same parameters."""
    return asyncio.run(
        serve_loopback(
            apps, initial, config, state_dir=state_dir, rng_for=rng_for, on_round=on_round
        )
    )
