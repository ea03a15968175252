"""The first message of a stream (``Hello``, issue 13): a stale ``silo.toml`` or an app whose
model does not fit is refused at connect and named on both sides, over real mTLS."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import grpc
import numpy as np
import pytest

from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol.hello import Hello, LayerSpec, roster_digest
from fedseal.protocol.wire.framing import encode_frame
from fedseal.protocol.wire.serde import encode_to_server

from .conftest import DIM, ServerThread, SiloThread, make_deployment
from .test_bad_input import _raw_stream


def test_a_silo_toml_from_before_the_last_provisioning_is_named_at_connect(
    tmp_path: Path, names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"connect_timeout_s": 3.0})
    # hospital-a still runs the silo.toml made before hospital-c was added.
    old = {n: k for n, k in dep.silos[names[0]].identities.items() if n != names[2]}
    dep.silos[names[0]] = dataclasses.replace(dep.silos[names[0]], identities=old)
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[1:3]]
    with caplog.at_level(logging.ERROR, logger="fedseal.server"):
        stale = SiloThread(dep, names[0]).start()
        stale.join()
    assert isinstance(stale.error, ConfigError)
    expected = f"{names[0]}'s silo.toml does not match this server's roster (it lacks {names[2]})"
    assert expected in str(stale.error) and "predates the last provisioning" in str(stale.error)
    assert any(expected in r.getMessage() for r in caplog.records)  # the server's side too
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.participants == tuple(names[1:3])
    for s in honest:
        s.join()


def _hello_frame(dep: object, silo: str, layout: tuple[LayerSpec, ...]) -> bytes:
    cfg = dep.silos[silo]  # type: ignore[attr-defined]
    hello = Hello(
        cfg.deployment_id, silo, roster_digest(cfg.identities), tuple(sorted(cfg.identities)),
        layout,
    )  # fmt: skip
    return encode_frame(1, 0, 1, encode_to_server(hello))


def test_stream_without_hello_or_with_a_model_that_does_not_fit_is_refused(
    tmp_path: Path, names: list[str]
) -> None:
    dep = make_deployment(tmp_path, names[:3], server={"connect_timeout_s": 3.0})
    server = ServerThread(dep).start()
    honest = [SiloThread(dep, n).start() for n in names[:2]]
    ready = encode_to_server(c.TrainReady(dep.silos[names[2]].deployment_id, 1, names[2]))
    assert _raw_stream(dep, names[2], [encode_frame(1, 0, 1, ready)]) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    wide = (LayerSpec("w", (DIM + 1,)),)
    assert _raw_stream(dep, names[2], [_hello_frame(dep, names[2], wide)]) == (
        grpc.StatusCode.FAILED_PRECONDITION  # the silo retries: the server may get a new model
    )
    server.join()
    (summary,) = dep.summaries
    assert summary.completed and summary.participants == tuple(names[:2])
    for s in honest:
        s.join()


def test_the_silos_declared_layout_is_kept_for_export(tmp_path: Path, names: list[str]) -> None:
    dep = make_deployment(tmp_path, names[:2])
    server = ServerThread(dep).start()
    silos = [SiloThread(dep, n).start() for n in names[:2]]
    server.join()
    for s in silos:
        s.join()
    kept = (Path(dep.server.state_dir) / "layout.json").read_text()
    assert f'"values": {DIM}' in kept  # FixedApp: one flat vector, one unnamed array
    assert np.asarray(dep.apps[names[0]].get_weights()).size == DIM
