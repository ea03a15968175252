"""``fedseal server``: the coordinator process, wiring config, state, audit and transport.

Reads the server's TOML config (:func:`fedseal.config.load_server_config`), opens the
audit log and the durable state, serves silos over mTLS gRPC and runs the configured number of
FedAvg rounds. One JSON line per round is appended to ``state_dir/rounds.jsonl`` (names, counts
and aggregate metrics only). The initial model comes from ``--init-model`` (a ``.npy`` file,
read without pickle) unless the state directory already holds a model from earlier rounds.
With ``aggregation = "paillier"`` the server also loads the deployment's threshold Paillier
public key (``paillier_public_key``; it never holds a key share) and checks it against the
deployment before it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fedseal.audit import events as ev
from fedseal.audit.entry import Entry
from fedseal.audit.export import read_entries
from fedseal.audit.log import AuditLog
from fedseal.config import ServerConfig, load_server_config
from fedseal.deploy.keyfile import load_identity_key
from fedseal.errors import ConfigError
from fedseal.protocol.wire.channel import TransportLimits
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.quantize import QuantizationSpec
from fedseal.server.driver import DriverConfig, RoundDriver, RoundSummary, summary_line
from fedseal.server.grpc_server import GrpcCoordinator
from fedseal.server.masking_round import unmask_threads
from fedseal.server.roster_audit import last_roster, roster_change, roster_details
from fedseal.server.state import ServerState
from fedseal.server.strategy import METRIC_NAMES, build_strategy

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["driver_config", "paillier_aggregator", "run_from_args", "serve"]

log = logging.getLogger("fedseal.server")


def _initial_model(state: ServerState, init_model: Path | None) -> np.ndarray[Any, Any]:
    stored = state.load_model()
    if stored is not None:
        return stored
    if init_model is None:
        raise ConfigError("no model in the state directory yet: pass --init-model FILE.npy")
    try:
        weights = np.load(init_model, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read --init-model {init_model}: {exc}") from None
    return np.asarray(weights, dtype=np.float64).ravel()


def driver_config(config: ServerConfig) -> DriverConfig:
    """The round driver's settings from the server's config."""
    spec = QuantizationSpec(
        clip=config.clip,
        bits=config.bits,
        max_weight=config.max_weight,
        max_silos=len(config.silos),
        modulus_bits=config.modulus_bits,
        num_metrics=len(METRIC_NAMES),
        metric_clip=config.metric_clip,
    )
    assert config.min_participants is not None  # filled in by ServerConfig.__post_init__
    return DriverConfig(
        deployment_id=config.deployment_id,
        rounds=config.rounds,
        min_silos=config.min_participants,
        corruption=config.corruption,
        dropout=config.dropout,
        full_graph_max=config.full_graph_max,
        roster_size=len(config.silos),
        aggregation=config.aggregation,
        quantization=spec,
        train_timeout_s=config.train_timeout_s,
        stage_timeout_s=config.stage_timeout_s,
        connect_timeout_s=config.connect_timeout_s,
        connect_give_up_s=config.connect_give_up_s,
        checkpoint_timeout_s=config.checkpoint_timeout_s,
    )


def paillier_aggregator(
    config: ServerConfig,
    directory: dict[str, IdentityPublicKey],
    *,
    spec: QuantizationSpec,
    dim: int,
) -> PaillierAggregator | None:
    """The server's Paillier setup, or None unless ``aggregation = "paillier"``.

    Raises
    ------
    ConfigError
        If the public key file is missing or malformed, was dealt for another deployment or
        for other silos, or an admitted silo holds no share of it.
    """
    if config.aggregation != "paillier" or config.paillier_public_key is None:
        return None
    from fedseal.deploy.paillier_keys import load_deployment_key
    from fedseal.server.paillier_round import PaillierAggregator

    key = load_deployment_key(
        config.paillier_public_key, deployment_id=config.deployment_id, silos=config.silos
    )
    workers = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="fedseal-he")
    return PaillierAggregator(
        key, directory, deployment_id=config.deployment_id, spec=spec, dim=dim, executor=workers
    )


def logged_entries(audit_log: Path) -> list[Entry]:
    """The well-formed entries of the server's audit log (none if it does not exist yet).

    Read once at start for :func:`released_models` and the roster check; a torn or malformed
    line is skipped (what it names was never durable). Nothing here is trusted beyond that:
    the log is the server's own, and ``fedseal audit verify`` is what checks it.
    """
    return read_entries(audit_log)[0] if audit_log.exists() else []


def released_models(entries: Sequence[Entry]) -> set[str]:
    """``model_sha256`` of every ``aggregate_released`` entry among ``entries``."""
    found = set()
    for entry in entries:
        digest = entry.details.get("model_sha256")
        if entry.event == ev.AGGREGATE_RELEASED and isinstance(digest, str):
            found.add(digest)
    return found


async def serve(
    config: ServerConfig,
    *,
    init_model: Path | None = None,
    on_round: Callable[[RoundSummary], None] | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> list[RoundSummary]:
    """Run the coordinator until its rounds are done; returns the round summaries."""
    if config.aggregation == "none":
        log.warning("INSECURE: aggregation = 'none' sends every update in clear (benchmarks only)")
    identity = load_identity_key(config.identity_key)
    admitted = frozenset(config.silos) - frozenset(config.revoked)
    directory = {s: IdentityPublicKey(bytes.fromhex(config.identities[s])) for s in admitted}
    state = ServerState(config.state_dir, deployment_id=config.deployment_id)
    logged = logged_entries(config.audit_log)
    reconciled = state.reconcile(released_models(logged))
    if reconciled is not None:
        log.warning("a model staged before a crash was %s (audit log: %s)", reconciled,
                    config.audit_log)  # fmt: skip
    strategy = build_strategy(config.strategy, _initial_model(state, init_model))
    strategy.load_state(state.strategy_state())
    settings = driver_config(config)
    paillier = paillier_aggregator(config, directory, spec=settings.quantization, dim=strategy.dim)
    rounds_file = Path(config.state_dir) / "rounds.jsonl"
    config.audit_log.parent.mkdir(parents=True, exist_ok=True)

    def record(summary: RoundSummary) -> None:
        with open(rounds_file, "a", encoding="utf-8") as f:
            f.write(summary_line(summary) + "\n")
        if on_round is not None:
            on_round(summary)

    roster = roster_details(config.identities, config.revoked)
    previous = last_roster(logged)
    with AuditLog(config.audit_log, party="server", identity=identity) as audit:
        audit.append(
            ev.PARTY_STARTED,
            details={
                "role": "server",
                "aggregation": config.aggregation,
                "silos_count": len(admitted),
                **roster,
                **({"staged_model": reconciled} if reconciled else {}),
            },
        )
        change = roster_change(previous, roster)
        if change:  # provisioned elsewhere: the live log records it before any round
            log.warning("the roster changed since the last start: %s", change)
            audit.append(ev.CONFIG_CHANGED, details=change)
        unmask, cores = unmask_threads()
        driver = RoundDriver(
            settings,
            directory=directory,
            strategy=strategy,
            state=state,
            audit=audit,
            on_round=record,
            paillier=paillier,
            roster=config.identities,
            threads=(unmask, cores),
        )
        coordinator = GrpcCoordinator(
            driver,
            listen=config.listen,
            tls=config.tls.read(),
            admitted=admitted,
            limits=TransportLimits(
                chunk_bytes=config.chunk_bytes, max_message_bytes=config.max_message_bytes,
                heartbeat_s=config.heartbeat_s, receive_window_bytes=config.receive_window_bytes,
            ),
            connect_burst=config.connect_burst,
            connect_refill_s=config.connect_refill_s,
            paillier=paillier,
            reassembly_budget_bytes=config.reassembly_budget_bytes,
        )  # fmt: skip
        port = await coordinator.start()
        log.info("listening on %s (port %d), %d silos admitted", config.listen, port, len(admitted))
        if on_listening is not None:
            on_listening(port)
        try:
            return await driver.run()
        finally:
            await asyncio.sleep(0.2)  # let Finish messages reach the silos
            await coordinator.stop()
            unmask.shutdown(wait=False, cancel_futures=True)
            if paillier is not None and paillier.executor is not None:
                paillier.executor.shutdown(wait=False, cancel_futures=True)
            transport = {"bytes_up": coordinator.bytes_up, "bytes_down": coordinator.bytes_down}
            (Path(config.state_dir) / "transport.json").write_text(json.dumps(transport))


def run_from_args(args: argparse.Namespace) -> int:
    """The body of ``fedseal server``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s server %(levelname)s %(message)s")
    config = load_server_config(args.config)

    def show(summary: RoundSummary) -> None:
        print(summary_line(summary), flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        await serve(config, init_model=args.init_model, on_round=show)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        log.info("stopped by signal (pid %d)", os.getpid())
        return 130
    return 0
