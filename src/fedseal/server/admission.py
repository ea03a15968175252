"""Admitting a connected silo: its :class:`~fedseal.protocol.hello.Hello` against the server's own.

The transport has authenticated the silo by its certificate; before it joins a round, its
``Hello`` must show the same deployment and roster as the server's (else the site runs a
``silo.toml`` from another provisioning: refused for good, naming what differs) and an app whose
model has as many values as the server's (else refused *for now*: the operator may restart the
server with another model, so the silo retries). When every admitted silo has been refused for
its model, no round can ever run: :meth:`Admission.hopeless` says so before round 1, so the
server stops with one message instead of burning round ids on refusals.

A fitting silo's declared layout (array names and shapes) is kept in ``<state_dir>/layout.json``
for ``fedseal model export --format torch``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedseal.deploy.files import write_atomic
from fedseal.protocol.hello import Hello, hello_problem, roster_digest

__all__ = ["LAYOUT_FILE", "Admission", "Refusal", "read_layout"]

log = logging.getLogger("fedseal.server")

#: Where the declared layout of the model is kept, in the server's ``state_dir``.
LAYOUT_FILE = "layout.json"


@dataclass(frozen=True)
class Refusal:
    """Why a silo may not join; ``final``: its configuration is wrong (it should stop trying)."""

    reason: str
    final: bool


class Admission:
    """The server's side of every silo's ``Hello``.

    Parameters
    ----------
    deployment_id : str
    roster : mapping of str to str
        Every provisioned silo's name -> identity key (hex), revoked ones included: revoking a
        silo does not change the other sites' ``silo.toml``.
    dim : int
        Values in the server's model.
    state_dir : Path, optional
        Where to keep the declared layout (not kept without).
    """

    def __init__(
        self,
        *,
        deployment_id: str,
        roster: Mapping[str, str],
        dim: int,
        state_dir: Path | None = None,
    ) -> None:
        self._deployment_id = deployment_id
        self._names = tuple(sorted(roster))
        self._digest = roster_digest(roster)
        self._dim = dim
        self._state_dir = state_dir
        #: Silos refused for their model, and why (until one connects with a fitting app).
        self.misfits: dict[str, str] = {}
        self._kept: dict[str, Any] | None = None

    def check(self, silo: str, hello: Hello) -> Refusal | None:
        """Whether ``silo`` (authenticated by the transport) may join, given its ``hello``."""
        problem = hello_problem(
            hello, silo=silo, deployment_id=self._deployment_id,
            roster_sha256=self._digest, roster=self._names,
        )  # fmt: skip
        if problem is not None:
            return Refusal(problem, final=True)
        if hello.layout and hello.model_size != self._dim:
            reason = (
                f"{silo}'s app has a model of {hello.describe()}; the server's model has "
                f"{self._dim} values: check the server's --init-model or the app"
            )
            self.misfits[silo] = reason
            return Refusal(reason, final=False)
        self.misfits.pop(silo, None)
        if hello.layout:
            self._keep(hello)
        return None

    def hopeless(self, admitted: Iterable[str], min_silos: int) -> str | None:
        """Why no round can run, if the silos refused for their model leave too few others."""
        admitted = set(admitted)
        others = admitted - set(self.misfits)
        if not self.misfits or len(others) >= min_silos:
            return None
        first = self.misfits[min(self.misfits)]
        return (
            f"the server's model ({self._dim} values) does not fit the apps of "
            f"{len(self.misfits)} of {len(admitted)} silos ({', '.join(sorted(self.misfits))}), "
            f"so fewer than min_participants = {min_silos} can ever take part; first: {first}"
        )

    def _keep(self, hello: Hello) -> None:
        record = {
            "arrays": [{"name": s.name, "shape": list(s.shape)} for s in hello.layout],
            "values": hello.model_size,
        }
        if self._state_dir is None or record == self._kept:
            return
        path = self._state_dir / LAYOUT_FILE
        if self._kept is None and path.exists() and read_layout(self._state_dir) == record:
            self._kept = record
            return
        if self._kept is not None:  # the first fitting declaration of this server run stands
            log.warning("silo %s declares another layout of the same size (%s) than the one "
                        "kept in %s", hello.sender, hello.describe(), path)  # fmt: skip
            return
        write_atomic(path, json.dumps(record, indent=1).encode(), mode=0o600)
        self._kept = record


def read_layout(state_dir: Path) -> dict[str, Any] | None:
    """The kept layout record (``arrays``: name and shape of each; ``values``), or None."""
    path = state_dir / LAYOUT_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("arrays"), list) else None
