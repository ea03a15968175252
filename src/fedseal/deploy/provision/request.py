"""What the operator asked ``fedseal provision`` for: :class:`Request`, and its checks.

:func:`check_request` is the first check of :func:`~fedseal.deploy.provision.checks.validate`;
the planners run it too, since the silo names become path components of the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fedseal.config.checks import check_deployment_id, check_host, check_int
from fedseal.deploy.paillier_deal import check_key_bits
from fedseal.errors import ConfigError
from fedseal.names import check_silo_name

__all__ = ["PaillierRequest", "Request", "check_request"]


@dataclass(frozen=True, kw_only=True)
class PaillierRequest:
    """What the operator asked for about the Paillier key (see ``provision``)."""

    deal: bool = False
    bits: int = 2048
    allow_insecure: bool = False
    redeal: bool = False
    notify: Callable[[str], None] | None = None


@dataclass(frozen=True, kw_only=True)
class Request:
    """What the operator asked for, as given: :func:`check_request` checks it."""

    root: Path
    deployment: str
    silos: Sequence[str]
    host: str | None = None
    port: int | None = None
    force_new: bool = False
    paillier: PaillierRequest = field(default_factory=PaillierRequest)


def check_request(request: Request) -> tuple[str, ...]:
    """Check what was asked for; return the silo names.

    Raises
    ------
    ConfigError
        For an invalid or duplicate name, a bad host or port, or a bad Paillier key size.
    """
    check_deployment_id(request.deployment, strict=True)
    if isinstance(request.silos, str):
        raise ConfigError(f"silos must be a sequence of names, got the string {request.silos!r}")
    names: list[str] = []
    for name in request.silos:
        if check_silo_name(name) in names:
            raise ConfigError(f"silo name {name!r} is given twice")
        names.append(name)
    if request.host is not None:
        check_host(request.host, "host")
    if request.port is not None:
        check_int("port", request.port, low=1, high=65535)
    paillier = request.paillier
    if not isinstance(paillier.allow_insecure, bool):
        raise ConfigError("paillier_allow_insecure_bits must be a bool")
    check_key_bits(paillier.bits, paillier.allow_insecure)
    return tuple(names)
