"""The coordinator's durable state: the last round id it started and the global model.

Round ids must never repeat, across crashes included: every key, signature and mask of a round
is bound to its id, and silos refuse a round id that is not newer than the last one they joined.
So the id of a round is made durable (written, fsynced, renamed) *before* the round's first
message is sent; a server restarted mid-round abandons that round and starts the next id.
The model is stored with ``np.save(allow_pickle=False)``; nothing here is pickled.

A completed round's model is written in two steps around its audit entry (closing the crash
window in which a model could change with no ``aggregate_released`` entry): :meth:`stage_model`
writes ``model.next.npy`` durably and returns its SHA-256, the driver appends
``aggregate_released`` naming that digest, and :meth:`commit_model` renames it into place and
counts the round. A server killed in between finds the staged model on restart and
:meth:`reconcile` commits it only if the audit log holds its release, else discards it; stale
temporary files of interrupted writes are removed then too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.deploy.files import fsync_dir, write_atomic
from fedseal.errors import ConfigError

__all__ = ["MODELS", "ServerState"]

_STATE = "server-state.json"
_MODEL = "model.npy"
_STRATEGY = "strategy-state.npz"
MODELS = "models"  # per-round copies of the model, the newest ``keep_models`` kept
_STAGED = ".next"  # suffix of a model (and strategy state) written but not yet committed


class ServerState:
    """Round counter and model under ``state_dir`` (created 0700 if missing).

    Parameters
    ----------
    state_dir : path
        Directory of the coordinator's state.
    deployment_id : str
        A state directory belongs to one deployment; another id is a ``ConfigError``.
    keep_models : int
        Completed rounds whose model is also kept in ``models/round-NNNNNN.npy`` (the newest
        ones; 0: none). ``fedseal model export`` reads them.
    """

    def __init__(
        self, state_dir: str | os.PathLike[str], *, deployment_id: str, keep_models: int = 5
    ) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.deployment_id = deployment_id
        self.keep_models = keep_models
        self.last_round = 0
        self.completed = 0
        self._strategy_round = 0
        path = self.dir / _STATE
        if path.exists():
            try:
                record: dict[str, Any] = json.loads(path.read_text())
                stored = record["deployment_id"]
                self.last_round = int(record["last_round"])
                self.completed = int(record["completed_rounds"])
                self._strategy_round = int(record.get("strategy_state_round", 0))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path} is not a fedseal server state file: {exc}") from None
            if stored != deployment_id:
                raise ConfigError(f"{path} belongs to deployment {stored!r}, not {deployment_id!r}")

    def _write(self) -> None:
        record = {
            "deployment_id": self.deployment_id,
            "last_round": self.last_round,
            "completed_rounds": self.completed,
            "strategy_state_round": self._strategy_round,
        }
        write_atomic(self.dir / _STATE, json.dumps(record, sort_keys=True).encode(), mode=0o600)

    def begin_round(self) -> int:
        """Reserve and persist the next round id; returns it."""
        self.last_round += 1
        self._write()
        return self.last_round

    def finish_round(
        self,
        weights: npt.NDArray[np.float64],
        strategy_state: Mapping[str, npt.NDArray[np.float64]] | None = None,
    ) -> None:
        """:meth:`stage_model` then :meth:`commit_model` (no audit entry in between)."""
        self.stage_model(weights, strategy_state)
        self.commit_model()

    def stage_model(
        self,
        weights: npt.NDArray[np.float64],
        strategy_state: Mapping[str, npt.NDArray[np.float64]] | None = None,
    ) -> str:
        """Write the next model (and strategy state) durably beside the current; its SHA-256.

        Nothing is committed: the current model and the round counter are unchanged.
        """
        self.discard_staged()
        if strategy_state:
            buffer = io.BytesIO()
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in strategy_state.items()}
            savez: Any = np.savez  # numpy's stub types **arrays as its allow_pickle flag
            savez(buffer, **arrays)  # float64 only: nothing to pickle
            write_atomic(self._staged(_STRATEGY), buffer.getvalue(), mode=0o600)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(weights, dtype=np.float64), allow_pickle=False)
        data = buffer.getvalue()
        write_atomic(self._staged(_MODEL), data, mode=0o600)
        return hashlib.sha256(data).hexdigest()

    def commit_model(self) -> None:
        """Move the staged model into place, then count the round (the counter last).

        After a crash between the renames, :meth:`strategy_state` returns nothing rather than
        moments that do not match the model.
        """
        staged_state = self._staged(_STRATEGY).exists()
        if staged_state:
            os.replace(self._staged(_STRATEGY), self.dir / _STRATEGY)
        os.replace(self._staged(_MODEL), self.dir / _MODEL)
        fsync_dir(self.dir)
        self.completed += 1
        self._strategy_round = self.completed if staged_state else 0
        self._write()
        self._keep_checkpoint()

    def _keep_checkpoint(self) -> None:
        """Copy the committed model to ``models/round-<completed>.npy``; keep the newest few."""
        if self.keep_models <= 0:
            return
        folder = self.dir / MODELS
        folder.mkdir(mode=0o700, exist_ok=True)
        write_atomic(folder / f"round-{self.completed:06d}.npy", (self.dir / _MODEL).read_bytes(),
                     mode=0o600)  # fmt: skip
        for old in sorted(folder.glob("round-*.npy"))[: -self.keep_models]:
            old.unlink(missing_ok=True)

    def staged_model(self) -> str | None:
        """SHA-256 of a model staged but not committed (a crash in between), or None."""
        path = self._staged(_MODEL)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None

    def discard_staged(self) -> None:
        """Remove a staged model and strategy state (their release was never recorded)."""
        for name in (_MODEL, _STRATEGY):
            self._staged(name).unlink(missing_ok=True)

    def reconcile(self, released_model_digests: Collection[str]) -> str | None:
        """After a restart: commit a staged model whose release the audit log records.

        Also removes temporary files of interrupted atomic writes (``.*.tmp``).

        Parameters
        ----------
        released_model_digests
            ``model_sha256`` of every ``aggregate_released`` entry in the server's audit log.

        Returns
        -------
        str or None
            ``"committed"``, ``"discarded"`` (staged, never released) or None (nothing staged).
        """
        for stale in self.dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        digest = self.staged_model()
        if digest is None:
            return None
        if digest in released_model_digests:
            self.commit_model()
            return "committed"
        self.discard_staged()
        return "discarded"

    def _staged(self, name: str) -> Path:
        return self.dir / f"{name}{_STAGED}"

    def strategy_state(self) -> dict[str, npt.NDArray[np.float64]]:
        """The strategy state saved with the last completed round's model (empty if none)."""
        path = self.dir / _STRATEGY
        if self._strategy_round != self.completed or self.completed == 0 or not path.exists():
            return {}
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: np.array(data[k], dtype=np.float64) for k in data.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not a fedseal strategy state file: {exc}") from None

    def load_model(self) -> npt.NDArray[np.float64] | None:
        """The last persisted model, or None before the first completed round."""
        path = self.dir / _MODEL
        if not path.exists():
            return None
        weights = np.load(path, allow_pickle=False)
        return np.asarray(weights, dtype=np.float64)
