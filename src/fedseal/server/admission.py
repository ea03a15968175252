"""Admitting a connected silo: its :class:`~fedseal.protocol.hello.Hello` against the server's own.

The transport has authenticated the silo by its certificate; before it joins a round, its
``Hello`` must show the same deployment and roster as the server's (else the site runs a
``silo.toml`` from another provisioning: refused for good, naming what differs) and an app whose
model has as many values as the server's (else refused *for now*: the operator may restart the
server with another model, so the silo retries). When the apps of ``min_participants`` silos
refuse the model and none takes it, the model is what is wrong: :meth:`Admission.hopeless`
says so before round 1, so the server stops with one message instead of burning round ids on
refusals.

The layout the fitting silos declared (array names and shapes) is kept in
``<state_dir>/layout.json`` for ``fedseal model export --format torch``, with the silos that
declared another one (``disputed_by``): an admitted silo could otherwise rename or reorder the
arrays of the export, so the export refuses a disputed layout.
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
        #: Silos whose app's model fits, and the layout each declared (names and shapes, as
        #: JSON: equal layouts are equal strings).
        self._fitting: dict[str, str] = {}
        self._written: dict[str, Any] | None = None  # the layout.json last written or read

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
            self._fitting.pop(silo, None)
            return Refusal(reason, final=False)
        self.misfits.pop(silo, None)
        if hello.layout:
            arrays = [{"name": a.name, "shape": list(a.shape)} for a in hello.layout]
            self._fitting[silo] = json.dumps(arrays)
            self._keep()
        return None

    def hopeless(self, admitted: Iterable[str], min_silos: int) -> str | None:
        """Why no round can run: at least ``min_silos`` apps refused the model and none fits.

        One silo whose app does not fit cannot stop the server this way (it is left out and
        named while the server waits); only when no app that said hello takes the model is the
        model itself taken to be wrong.
        """
        admitted = set(admitted)
        if self._fitting or len(self.misfits) < min(min_silos, len(admitted)):
            return None
        first = self.misfits[min(self.misfits)]
        return (
            f"the server's model ({self._dim} values) fits the app of no silo that connected: "
            f"{len(self.misfits)} of {len(admitted)} refused ({', '.join(sorted(self.misfits))}); "
            f"first: {first}"
        )

    def _keep(self) -> None:
        """Write the layout the fitting silos declared, and who disputes it, if it changed."""
        if self._state_dir is None:
            return
        declared: dict[str, list[str]] = {}
        for silo, arrays in sorted(self._fitting.items()):
            declared.setdefault(arrays, []).append(silo)
        # The layout most silos declared stands (a tie: the one of the first silo by name).
        chosen = min(declared, key=lambda k: (-len(declared[k]), declared[k][0]))
        record = {
            "arrays": json.loads(chosen),
            "values": self._dim,
            "declared_by": declared[chosen],
            "disputed_by": sorted(s for k, v in declared.items() if k != chosen for s in v),
        }
        if self._written is None:  # what an earlier run left, read once
            self._written = read_layout(self._state_dir) or {}
        if record == self._written:
            return
        if record["disputed_by"]:
            log.warning("silos declare different layouts for the same model: %s",
                        ", ".join(record["disputed_by"]))  # fmt: skip
        path = self._state_dir / LAYOUT_FILE
        write_atomic(path, json.dumps(record, indent=1).encode(), mode=0o600)
        self._written = record


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
