"""The optional dependency groups ("extras") of fedseal, and the check made before using one.

``pip install fedseal`` (the base install) brings everything but the training stack of
differential privacy: the cryptography (pyca/cryptography, PyNaCl, phe and gmpy2 for threshold
Paillier), numpy, the gRPC transport (grpcio, protobuf) and scikit-learn for the bundled
breast-cancer data. So provisioning, the server, the silos, the audit tools, ``fedseal
simulate``, ``fedseal demo --no-dp`` and the benchmarks other than ``dp`` run on it.

The one extra, ``dp`` (``pip install 'fedseal[dp]'``), adds torch (pinned to 2.13.0), Opacus
and matplotlib, for DP-SGD training (:class:`fedseal.dp.PrivateTrainer`), ε accounting (the
silo's budget guard with ``[dp]`` set), ``fedseal privacy report``, ``fedseal demo`` (DP is on
by default) and ``fedseal bench dp``.

Code that needs an extra calls :func:`require` right before its first import of it; a missing
package then raises :class:`~fedseal.errors.MissingExtraError`, whose message (printed by the
``fedseal`` command as one line) says what to install.

Examples
--------
>>> from fedseal.extras import require
>>> require("dp", "opacus")                   # doctest: +SKIP
>>> from opacus.accountants import RDPAccountant  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util

from fedseal.errors import ConfigError, MissingExtraError

__all__ = ["EXTRAS", "missing", "require"]

#: Extra -> the top-level modules it provides, in ``pyproject.toml``'s order.
EXTRAS: dict[str, tuple[str, ...]] = {
    "dp": ("torch", "opacus", "matplotlib"),
    "ray": ("ray",),
}


def missing(extra: str, *modules: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here.

    Looks each module up without importing it (:func:`importlib.util.find_spec`).

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`.
    *modules : str
        Top-level modules of that extra to look for; all of the extra's when none is given.

    Returns
    -------
    list of str
        The modules not found, in the order asked (empty if all are installed).

    Raises
    ------
    ConfigError
        ``extra`` is not an extra of fedseal, or a module is not one of its modules.
    """
    provided = EXTRAS.get(extra)
    if provided is None:
        raise ConfigError(f"unknown extra {extra!r} (known: {', '.join(sorted(EXTRAS))})")
    wanted = modules or provided
    unknown = [m for m in wanted if m not in provided]
    if unknown:
        raise ConfigError(f"the {extra!r} extra does not provide {', '.join(unknown)}")
    return [m for m in wanted if importlib.util.find_spec(m) is None]


def require(extra: str, *modules: str) -> None:
    """Raise unless the modules of ``extra`` are installed; call it before importing them.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`, e.g. ``"dp"``.
    *modules : str
        The extra's top-level modules the caller is about to import (e.g. ``"opacus"``); all
        of the extra's when none is given.

    Raises
    ------
    MissingExtraError
        A module is not installed. Its message is
        ``this command needs the 'dp' extra: pip install 'fedseal[dp]'``.
    ConfigError
        ``extra`` or a module is not known (a mistake in the caller).
    """
    absent = missing(extra, *modules)
    if absent:
        raise MissingExtraError(extra, absent[0])
