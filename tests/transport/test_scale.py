"""The coordinator serves 200 connected silos at once and completes a SecAgg round (issue 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import ServerThread, SiloThread, make_deployment


@pytest.mark.slow
def test_two_hundred_silos_complete_a_sparse_round(tmp_path: Path) -> None:
    names = [f"silo-{i:03d}" for i in range(200)]
    dep = make_deployment(
        tmp_path, names, server={"connect_timeout_s": 120.0, "stage_timeout_s": 120.0,
                                 "train_timeout_s": 120.0},
    )  # fmt: skip
    server = ServerThread(dep).start()
    silos = [SiloThread(dep, n, give_up_after_s=120.0).start() for n in names]
    server.join()
    assert server.error is None
    (summary,) = dep.summaries
    assert summary.completed, summary.reason
    assert len(summary.participants) == 200 and len(summary.survivors) == 200
    model = np.load(dep.server.state_dir / "model.npy", allow_pickle=False)
    step = 2 * dep.server.clip / (2**dep.server.bits)
    np.testing.assert_allclose(model, dep.expected_mean(summary.survivors), atol=4 * step)
    for s in silos:
        s.join()
        assert s.status == 0
