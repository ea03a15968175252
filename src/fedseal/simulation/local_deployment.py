"""A throw-away deployment on this machine, for ``fedseal demo`` and ``fedseal bench grpc``.

Provisions with :func:`fedseal.deploy.provision.provision` (the same code an operator runs;
with ``aggregation = "paillier"`` it also deals a 2048-bit threshold Paillier key, as
``fedseal provision --paillier`` does), then adjusts the generated TOML files for a
one-machine run: the port, the number of rounds, the aggregation mode, short timeouts, and
each silo's DP settings. A folder left by an earlier
demo is replaced; any other non-empty folder is refused, so the demo never deletes a real
deployment.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedseal.deploy.layout import MANIFEST, read_raw, write_config
from fedseal.deploy.provision import provision
from fedseal.errors import ConfigError

__all__ = ["DEMO_DEPLOYMENT", "prepare_demo_deployment"]

DEMO_DEPLOYMENT = "fedseal-demo"


def _clear(out: Path) -> None:
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = out / MANIFEST
    if manifest.is_file() and read_raw(manifest).get("deployment_id") == DEMO_DEPLOYMENT:
        shutil.rmtree(out)
        return
    raise ConfigError(f"{out} is not empty and is not an earlier demo; choose another --out")


def prepare_demo_deployment(
    out: Path,
    silos: list[str],
    *,
    port: int,
    rounds: int,
    dp: bool,
    aggregation: str,
    clip: float = 1.0,
    notify: Callable[[str], None] | None = None,
) -> Path:
    """Provision ``silos`` into ``out`` on ``127.0.0.1:port``; returns the server's config path.

    Parameters
    ----------
    dp : bool
        DP-SGD on every silo: ε budget 8, δ = 1e-5, σ chosen once so that ``rounds`` rounds end
        at ε = 8 (RDP accountant).
    aggregation : {"masking", "paillier", "none"}
        ``"paillier"`` deals a 2048-bit threshold Paillier key (slow: a minute or more);
        ``"none"`` also sets ``allow_plaintext`` in every silo's config (insecure; benchmarks).
    notify : callable, optional
        Called with a line before a slow step (the Paillier key generation) starts.
    """
    _clear(out)
    result = provision(
        deployment=DEMO_DEPLOYMENT,
        silos=silos,
        out=out,
        host="127.0.0.1",
        port=port,
        paillier=aggregation == "paillier",
        notify=notify,
    )
    server_path = Path(result.server_config)
    server: dict[str, Any] = read_raw(server_path)
    server.update(
        listen=f"127.0.0.1:{port}",
        rounds=rounds,
        aggregation=aggregation,
        clip=clip,
        stage_timeout_s=20.0,
        train_timeout_s=120.0,
        connect_timeout_s=60.0,
    )  # min_participants stays as provisioned (3 of the demo's 5 silos) in every file
    write_config(server_path, server, "server")
    for name in silos:
        path = out / "silos" / name / "silo.toml"
        doc: dict[str, Any] = read_raw(path)
        doc.update(server_address=f"127.0.0.1:{port}", reconnect_max_s=2.0)
        doc["allow_plaintext"] = aggregation == "none"
        settings = {"enabled": dp, "epsilon_budget": 8.0, "delta": 1e-5, "accountant": "rdp"}
        if dp:
            # q declared for the deployment (batch 32 of about 91 records per hospital),
            # so that it does not follow any hospital's live record count.
            settings.update(
                target_epsilon=8.0, planned_rounds=rounds, max_grad_norm=1.0, sample_rate=0.35
            )
        doc["dp"] = settings
        write_config(path, doc, f"silo {name}")
    return server_path
