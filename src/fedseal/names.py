"""What a silo name may be: one rule for configs, certificates, audit logs and the wire.

A silo's name is its certificate's Common Name, its audit party name, a directory name on
disk and the sender or owner field of protocol messages, so it is kept to a small safe
alphabet. Standard library only; every layer may import it.
"""

from __future__ import annotations

import re

from fedseal.errors import ConfigError

__all__ = ["RESERVED_NAMES", "SILO_NAME", "check_silo_name"]

#: A silo name: also its certificate CN, its audit party name and a directory name.
SILO_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
#: Names a silo cannot take: the server's audit party and certificate CN.
RESERVED_NAMES = frozenset({"server", "fedseal-server"})


def check_silo_name(name: object, what: str = "silo name") -> str:
    """A silo name matching ``^[a-z0-9][a-z0-9._-]{0,62}$`` and not reserved.

    Raises
    ------
    ConfigError
        Naming ``what`` and the value.
    """
    if not isinstance(name, str) or not SILO_NAME.fullmatch(name):
        raise ConfigError(
            f"{what} {name!r} is not valid: use 1-63 characters of a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise ConfigError(f"{what} {name!r} is reserved for the server")
    return name
