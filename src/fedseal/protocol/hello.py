"""The first message of every silo connection: what the silo was provisioned with, and its model.

A silo's ``silo.toml`` carries the deployment's roster (every silo's name and identity key) as
it was when the file was made. If silos were added or revoked since and this site still runs
the old file, every round would name silos unknown to it; worse, it would check signatures
against a stale key directory. So the first message on every stream is :class:`Hello`, and
the server compares it with its own roster *before* the silo joins anything
(:func:`hello_problem`): a difference is named ("hospital-a's silo.toml predates the last
provisioning ...") and the connection refused, never reported later as a protocol violation.

``Hello`` also declares the silo app's model: the shape (and, where the app names them, the
names) of each array its ``get_weights()`` returns. The server checks its model against these
before the first round, and stops with one message if no connected silo's app can take it; the
declared names and shapes let ``fedseal model export --format torch`` write a ``state_dict``.

The roster digest is SHA-256 over the sorted ``name=identity-key-hex`` lines: it names no
secret and is the same on both sides for the same provisioning.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fedseal.errors import ConfigError

__all__ = ["MAX_LAYERS", "Hello", "LayerSpec", "hello_problem", "roster_digest"]

#: Most arrays a declared layout may have, and most dimensions of one array.
MAX_LAYERS = 10_000
_MAX_DIMS = 8
_MAX_NAME = 200
#: Largest model a declared layout may describe (values): 2**40, far above any real model.
_MAX_VALUES = 2**40


@dataclass(frozen=True)
class LayerSpec:
    """One array of a silo app's model: its name (``""`` if the app names none) and shape."""

    name: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.name) > _MAX_NAME:
            raise ConfigError(f"a layer name is longer than {_MAX_NAME} characters")
        if len(self.shape) > _MAX_DIMS or any(d < 0 or d > _MAX_VALUES for d in self.shape):
            raise ConfigError("a layer shape is out of range")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))


@dataclass(frozen=True)
class Hello:
    """C -> S, first on every stream: the silo's roster digest and its app's model layout.

    ``roster`` is the silo names this silo's ``silo.toml`` knows (so the server can say which
    differ); ``layout`` is empty if the app's ``get_weights()`` failed at start.
    """

    deployment_id: str
    sender: str
    roster_sha256: str
    roster: tuple[str, ...]
    layout: tuple[LayerSpec, ...]

    def __post_init__(self) -> None:
        if len(self.layout) > MAX_LAYERS:
            raise ConfigError(f"a layout may have at most {MAX_LAYERS} arrays")
        if len(self.roster_sha256) != 64:
            raise ConfigError("roster_sha256 must be 64 hex digits")
        if self.model_size > _MAX_VALUES:
            raise ConfigError("the declared model is too large")

    @property
    def model_size(self) -> int:
        """Values in the declared model (0 if the silo declared none)."""
        return sum(math.prod(layer.shape) for layer in self.layout)

    def describe(self) -> str:
        """``"3 arrays, 4810 values"`` for messages."""
        return f"{len(self.layout)} arrays, {self.model_size} values"


def roster_digest(identities: Mapping[str, str]) -> str:
    """SHA-256 (hex) over the roster: sorted ``name=key`` lines, keys as lower-case hex.

    Parameters
    ----------
    identities : mapping of str to str
        Silo name -> its identity public key in hex.
    """
    lines = "\n".join(f"{name}={identities[name].lower()}" for name in sorted(identities))
    return hashlib.sha256(lines.encode()).hexdigest()


def hello_problem(
    hello: Hello, *, silo: str, deployment_id: str, roster_sha256: str, roster: Sequence[str]
) -> str | None:
    """Why the server refuses ``hello`` from ``silo`` (None: it may join).

    Parameters
    ----------
    hello : Hello
    silo : str
        The name the transport authenticated (certificate); ``hello.sender`` must match.
    deployment_id, roster_sha256 : str
        The server's own.
    roster : sequence of str
        The server's admitted silo names.

    Returns
    -------
    str or None
        A message naming the mismatch and what to do, fit for both sides' logs.
    """
    if hello.sender != silo:
        return f"the connection authenticated as {silo} but introduced itself as another silo"
    if hello.deployment_id != deployment_id:
        return (
            f"{silo}'s silo.toml belongs to another deployment ({hello.deployment_id[:80]!r}, "
            f"this server runs {deployment_id!r})"
        )
    if hello.roster_sha256 == roster_sha256:
        return None
    mine, theirs = set(roster), set(hello.roster)
    added, gone = sorted(mine - theirs), sorted(theirs - mine)
    if added or gone:
        what = "; ".join(
            part
            for part in (
                f"it lacks {', '.join(added[:10])}" if added else "",
                f"it still lists {', '.join(gone[:10])}" if gone else "",
            )
            if part
        )
        return (
            f"{silo}'s silo.toml does not match this server's roster ({what}): it predates the "
            "last provisioning; redistribute the silo.toml made by the last `fedseal provision` "
            "to that site (or restart this server if it is the one behind)"
        )
    return (
        f"{silo}'s silo.toml holds other identity keys than this server's roster for the same "
        "silos: one side was provisioned again; redistribute the current silo.toml (or restart "
        "the server with the current server.toml)"
    )
