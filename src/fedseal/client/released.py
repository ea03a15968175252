"""The silo's durable record of the models it has answered an unmask request on.

One JSON file in the silo's state directory (``released-models.json``), rewritten atomically
(temporary file, ``fsync``, ``os.replace``) before each answer leaves the silo, so a crash
can never lead to a second answer on the same model. The rule it serves and the argument
for it are in :mod:`fedseal.protocol.release` and ``docs/secagg.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

from fedseal.deploy.files import write_atomic
from fedseal.errors import ConfigError

__all__ = ["FileReleaseLedger"]


class FileReleaseLedger:
    """A :class:`~fedseal.protocol.release.ReleaseLedger` kept in one JSON file.

    Parameters
    ----------
    path : Path
        The file; created on the first answer.

    Raises
    ------
    ConfigError
        If the file exists but is not a list of 64-character hex digests.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._models: set[bytes] = set()
        if path.exists():
            try:
                entries = json.loads(path.read_text())["models"]
                self._models = {bytes.fromhex(e) for e in entries if len(e) == 64}
                if len(self._models) != len(entries):
                    raise ValueError("bad entry")
            except (ValueError, KeyError, TypeError, OSError) as exc:
                raise ConfigError(
                    f"{path} is damaged ({type(exc).__name__}); the silo refuses to start "
                    "rather than risk answering twice on one model. Restore it from backup."
                ) from None

    def released(self, model: bytes) -> bool:
        """True if this silo already answered an unmask request on ``model``."""
        return bytes(model) in self._models

    def record(self, model: bytes) -> None:
        """Add ``model`` and make the file durable before returning."""
        models = self._models | {bytes(model)}
        data = json.dumps({"models": sorted(m.hex() for m in models)}).encode()
        write_atomic(self._path, data, mode=0o600)
        self._models = models
