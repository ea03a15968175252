"""``fedseal simulate --app module:function``: the user's own app on N simulated silos.

The same factory ``fedseal client --app`` takes is called once per silo with a
:class:`~fedseal.client.app.SiloContext` whose ``settings`` carry ``silo_index`` and ``silos``
(so the app can take its part of a data set) and, with ``dp=True``, the DP settings a provisioned
silo gets (ε budget 8, δ 1e-5, σ derived once so that ``rounds`` rounds reach ε = 8). The silos
then train over the real protocol: the coordinator's :class:`~fedseal.server.driver.RoundDriver`
and each silo's :class:`~fedseal.client.agent.SiloAgent` on in-memory links
(:mod:`fedseal.simulation.loopback`), in any aggregation mode and with any strategy.

Everything lands in ``out`` (which must not exist yet, or be empty): the deployment's state
under ``deployment/`` (``server/model.npy``, the audit logs, each silo's state), each app's own
folder under ``apps/silos/<name>/`` (a DP app's privacy ledger), ``summary.json`` (one record
per round, as the demo's) and, with DP, ``privacy-report.json`` / ``.html``. The app's module
is looked up from the current directory first, as a user runs it from their project folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fedseal.client.app import SiloApp, SiloContext, load_app
from fedseal.client.arrays import layout_of
from fedseal.config.strategy import StrategySettings
from fedseal.errors import ConfigError
from fedseal.server.summary import NOT_COLLECTED, RoundSummary
from fedseal.simulation.app_pool import AppPool
from fedseal.simulation.data import silo_names
from fedseal.simulation.loopback import LoopbackConfig, LoopbackResult, run_loopback

__all__ = ["run_user_app"]


def _dp_config(rounds: int) -> Any:
    from fedseal.dp.config import DPConfig

    return DPConfig(epsilon_budget=8.0, target_epsilon=8.0, planned_rounds=rounds, delta=1e-5)


def _contexts(names: list[str], out: Path, dp: Any) -> dict[str, tuple[Path, Any, dict[str, Any]]]:
    """Each silo's context: its app's state folder, the DP settings, its index and the count."""
    contexts = {}
    for i, name in enumerate(names):
        state = out / "apps" / "silos" / name
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        contexts[name] = (state, dp, {"silo_index": i, "silos": len(names)})
    return contexts


def _apps(spec: str, names: list[str], out: Path, dp: Any) -> dict[str, SiloApp]:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # the user's project folder, as `python -m` would
    return {
        name: load_app(spec, SiloContext(name, state, dp_config, settings))
        for name, (state, dp_config, settings) in _contexts(names, out, dp).items()
    }


def _flat(app: SiloApp) -> Any:
    weights = app.get_weights()
    try:
        layout = layout_of(weights)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    flat = weights if layout is None else layout.flatten(weights)
    return np.asarray(flat, dtype=np.float64).ravel()


def _initial(apps: dict[str, SiloApp]) -> Any:
    models = {name: _flat(app) for name, app in apps.items()}
    sizes = {name: m.size for name, m in models.items()}
    if len(set(sizes.values())) != 1:
        raise ConfigError(f"the silos' apps disagree on the model size: {sizes}")
    first = next(iter(models.values()))
    if not np.all(np.isfinite(first)):
        raise ConfigError("the app's initial weights hold NaN or infinite values")
    return first


def _line(summary: RoundSummary, total: int, started: float) -> str:
    if not summary.completed:
        return f"{summary.round_id:>5}  aborted: {summary.reason}"
    metrics = summary.metrics
    loss = acc = NOT_COLLECTED
    if metrics is not None and metrics.loss is not None:
        loss = f"{metrics.loss:.4f}"
    if metrics is not None and metrics.accuracy is not None:
        acc = f"{metrics.accuracy:.4f}"
    dropped = ",".join(d["silo"] for d in summary.dropouts) or "-"
    done = min(summary.round_id, total)
    bar = "#" * (24 * done // total) + "." * (24 - 24 * done // total)
    return (
        f"{summary.round_id:>5}  {len(summary.survivors):>9}  {dropped:<18}  {loss:>8}  "
        f"{acc:>8}  [{bar}] {time.monotonic() - started:6.1f} s"
    )


def run_user_app(
    spec: str,
    *,
    silos: int,
    rounds: int,
    out: Path,
    aggregation: str = "masking",
    strategy: str = "fedavg",
    dp: bool = False,
    echo: Callable[[str], None] = print,
    executor: str = "inline",
    workers: int | None = None,
) -> LoopbackResult:
    """Run the app ``spec`` (``module:function``) on ``silos`` simulated silos for ``rounds``.

    Parameters
    ----------
    spec : str
        ``module:function``; ``function(context)`` returns the silo's app.
    silos, rounds : int
        At least 3 silos (the secure-aggregation threshold needs them) and 1 round.
    out : Path
        Where the run's state, logs and reports go (created).
    aggregation, strategy : str
        As ``fedseal simulate``.
    dp : bool
        Give every silo the demo's DP settings (the app decides how to use them).
    echo : callable
        Receives the header and one line per round.
    executor : {"inline", "process"}
        Where the apps run: in this process, or on ``workers`` local worker processes
        (:mod:`fedseal.simulation.app_pool`; default: the cores), so that silos train in parallel.
        The silo agents, the protocol and the server stay in this process either way.
    workers : int, optional
        Worker processes for ``executor = "process"``.

    Raises
    ------
    ConfigError
        If the app cannot be loaded, the silos' models differ in size, or an option is invalid.
    """
    if silos < 3 or rounds < 1:
        raise ConfigError("need --silos >= 3 and --rounds >= 1")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: choose another --out")
    if executor not in ("inline", "process") or (workers is not None and workers < 1):
        raise ConfigError(f"executor must be inline or process, workers >= 1; got {executor}")
    out.mkdir(parents=True, exist_ok=True)
    names = silo_names(silos)
    dp_config = _dp_config(rounds) if dp else None
    with contextlib.ExitStack() as stack:
        if executor == "process":
            pool = stack.enter_context(
                AppPool(spec, _contexts(names, out, dp_config), workers=workers)
            )
            apps: dict[str, SiloApp] = dict(pool.apps)
        else:
            apps = _apps(spec, names, out, dp_config)
        initial = _initial(apps)
        config = LoopbackConfig(
            rounds=rounds, aggregation=aggregation, deployment_id="simulate",
            strategy=StrategySettings(name=strategy), send_metrics=not dp,
            silo_threads=executor == "process",
        )  # fmt: skip
        echo(
            f"{spec} on {silos} silos, {rounds} rounds, aggregation={aggregation}, "
            f"strategy={strategy}, DP={'on' if dp else 'off'}, {initial.size} parameters, "
            f"executor={executor}, out={out}\n"
            f"{'round':>5}  {'survivors':>9}  {'dropped':<18}  {'loss':>8}  {'accuracy':>8}"
        )
        started = time.monotonic()
        result = run_loopback(
            apps, initial, config, state_dir=out / "deployment",
            on_round=lambda summary, weights: echo(_line(summary, rounds, started)),
        )  # fmt: skip
    summary = {
        "app": spec, "silos": names, "aggregation": aggregation, "strategy": strategy, "dp": dp,
        "executor": executor, "rounds": [s.to_record() for s in result.summaries],
        "seconds": round(time.monotonic() - started, 2),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if dp:
        from fedseal.dp.report import write_privacy_report

        write_privacy_report(out / "apps", out)
    model = out / "deployment" / "server" / "model.npy"
    echo(f"summary: {out / 'summary.json'}  model: {model}")
    return result
