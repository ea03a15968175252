"""The coordinator's durable state: the last round id it started and the global model.

Round ids must never repeat, across crashes included: every key, signature and mask of a round
is bound to its id, and silos refuse a round id that is not newer than the last one they joined.
So the id of a round is made durable (written, fsynced, renamed) *before* the round's first
message is sent; a server restarted mid-round abandons that round and starts the next id.
The model is stored with ``np.save(allow_pickle=False)``; nothing here is pickled.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.deploy.files import write_atomic
from fedseal.errors import ConfigError

__all__ = ["ServerState"]

_STATE = "server-state.json"
_MODEL = "model.npy"
_STRATEGY = "strategy-state.npz"


class ServerState:
    """Round counter and model under ``state_dir`` (created 0700 if missing).

    Parameters
    ----------
    state_dir : path
        Directory of the coordinator's state.
    deployment_id : str
        A state directory belongs to one deployment; another id is a ``ConfigError``.
    """

    def __init__(self, state_dir: str | os.PathLike[str], *, deployment_id: str) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.deployment_id = deployment_id
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
        """Persist the model (and the strategy's state, if any), then count the round.

        Each file is replaced atomically and the counter last, with the round the strategy
        state belongs to: after a crash between the writes, :meth:`strategy_state` returns
        nothing rather than moments that do not match the model.
        """
        if strategy_state:
            buffer = io.BytesIO()
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in strategy_state.items()}
            savez: Any = np.savez  # numpy's stub types **arrays as its allow_pickle flag
            savez(buffer, **arrays)  # float64 only: nothing to pickle
            write_atomic(self.dir / _STRATEGY, buffer.getvalue(), mode=0o600)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(weights, dtype=np.float64), allow_pickle=False)
        write_atomic(self.dir / _MODEL, buffer.getvalue(), mode=0o600)
        self.completed += 1
        self._strategy_round = self.completed if strategy_state else 0
        self._write()

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
