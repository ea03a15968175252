"""``fedseal demo``: the whole deployment on one machine, with real processes, mTLS and a crash.

Provisions a deployment into ``--out`` (CA, certificates, identity keys, configs), starts
``fedseal server`` and one ``fedseal client`` process per hospital on loopback, and trains
logistic regression with FedAvg inside secure aggregation (and DP-SGD on every silo unless
``--no-dp``). In round 2 one hospital is killed with SIGKILL right after it shared its keys, so
its pair masks must be recovered (with ``--aggregation paillier``: after it sent its encrypted
input, before it helps decrypt, so the others decrypt without it); it is restarted for the next
round. Every round is printed as
a table row with a progress bar; at the end the audit logs are verified, the privacy report is
written and ``summary.json`` records the rounds, the dropouts, the accuracy and the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedseal.demo.app import DIM
from fedseal.errors import ConfigError, FedsealError
from fedseal.simulation.data import load_hospitals, silo_names
from fedseal.simulation.logreg import loss_and_accuracy
from fedseal.simulation.processes import SiloProcess, fedseal_command, free_port, spawn_silo

__all__ = ["DemoOptions", "run_demo"]

_TIMEOUT_S = 240.0
_APP = "fedseal.demo.app:make_app"


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """What ``fedseal demo`` was asked to do."""

    out: Path = Path("fedseal-demo")
    rounds: int = 10
    silos: int = 5
    dp: bool = True
    crash_round: int | None = 2
    aggregation: str = "masking"

    def __post_init__(self) -> None:
        if not 1 <= self.rounds <= 1000:
            raise ConfigError(f"--rounds must be in 1..1000, got {self.rounds}")
        if not 3 <= self.silos <= 26:
            raise ConfigError(f"--silos must be in 3..26, got {self.silos}")


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo; returns (and writes to ``out/summary.json``) its summary."""
    from fedseal.simulation.local_deployment import prepare_demo_deployment

    out = opts.out.resolve()
    names = silo_names(opts.silos)
    port = free_port()
    provisioning = time.monotonic()
    server_config = prepare_demo_deployment(
        out, names, port=port, rounds=opts.rounds, dp=opts.dp, aggregation=opts.aggregation,
        notify=lambda line: print(f"fedseal demo: {line} ...", flush=True),
    )  # fmt: skip
    if opts.aggregation == "paillier":
        print(f"fedseal demo: provisioned with the Paillier key in "
              f"{time.monotonic() - provisioning:.1f} s", flush=True)  # fmt: skip
    (out / "logs").mkdir(exist_ok=True)
    init_model = out / "init-model.npy"
    np.save(init_model, np.zeros(DIM), allow_pickle=False)
    state = out / "server" / "state"
    rounds_file = state / "rounds.jsonl"
    seen = len(rounds_file.read_text().splitlines()) if rounds_file.exists() else 0

    env = {**os.environ, "FEDSEAL_DEMO_SILOS": str(opts.silos), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    dp = "on" if opts.dp else "off"
    print(f"fedseal demo: {opts.silos} hospitals, {opts.rounds} rounds, "
          f"aggregation={opts.aggregation}, DP={dp}, out={out}")  # fmt: skip
    server_log = open(out / "logs" / "server.log", "ab")  # noqa: SIM115 - closed below
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        fedseal_command("server", "--config", str(server_config), "--init-model", str(init_model)),
        stdout=server_log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    silos: dict[str, SiloProcess] = {}
    _, (x_test, y_test) = load_hospitals(opts.silos)
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(0.5)
        victim = names[-1] if opts.crash_round is not None else None
        fault = "kill-before-decrypt" if opts.aggregation == "paillier" else "kill-after-share"
        faulty = [
            sys.executable,
            "-m",
            "fedseal.demo.faults",
            "--fault",
            f"{fault}:{opts.crash_round}",
        ]
        for name in names:
            command = faulty if name == victim else None  # fedseal.demo.faults: the one crash
            silos[name] = spawn_silo(name, out, env, app=_APP, command=command)
        print(f"{'round':>5}  {'survivors':>9}  {'dropped (stage)':<28}  {'test acc':>8}  progress")
        deadline = time.monotonic() + _TIMEOUT_S
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            for silo in silos.values():
                if silo.process.poll() is not None and not silo.restarted and silo.name == victim:
                    silo.log.close()
                    fresh = spawn_silo(silo.name, out, env, app=_APP)
                    fresh.restarted = True
                    silos[silo.name] = fresh
                    break
            seen = _show_new_rounds(rounds_file, seen, rows, state, (x_test, y_test), opts.rounds)
        if server.poll() is None:
            raise FedsealError(
                f"the demo did not finish within {_TIMEOUT_S:.0f} s (see {out}/logs)"
            )
        _show_new_rounds(rounds_file, seen, rows, state, (x_test, y_test), opts.rounds)
        if server.returncode != 0:
            raise FedsealError(
                f"the server exited with status {server.returncode} (see {out}/logs/server.log)"
            )
        for silo in silos.values():
            try:
                silo.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                silo.process.terminate()
    finally:
        for silo in silos.values():
            if silo.process.poll() is None:
                silo.process.kill()
                silo.process.wait()
            silo.log.close()
        if server.poll() is None:
            server.kill()
            server.wait()
        server_log.close()

    from fedseal.demo.finish import finish_demo

    return finish_demo(out, names, rows, x_test, y_test, opts, time.monotonic() - started)


def _show_new_rounds(
    rounds_file: Path,
    seen: int,
    rows: list[dict[str, Any]],
    state: Path,
    test: tuple[Any, Any],
    total: int,
) -> int:
    """Print (and append to ``rows``) the rounds the server finished since ``seen``."""
    text = rounds_file.read_text() if rounds_file.exists() else ""
    lines = text[: text.rfind("\n") + 1].splitlines()  # complete lines only
    for line in lines[seen:]:
        record = json.loads(line)
        weights = np.load(state / "model.npy", allow_pickle=False)
        record["test_accuracy"] = loss_and_accuracy(weights, *test)[1]
        rows.append(record)
        done = sum(1 for r in rows if r["completed"])
        dropped = ", ".join(f"{d['silo']} ({d['stage']})" for d in record["dropouts"]) or "-"
        acc = f"{record['test_accuracy']:8.4f}" if record["completed"] else "  failed"
        print(f"{record['round']:>5}  {len(record['survivors']):>9}  {dropped:<28.28}  {acc}  "
              f"{_bar(done, total)}", flush=True)  # fmt: skip
    return len(lines)
