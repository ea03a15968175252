"""The ``[tls]`` table of ``server.toml`` and ``silo.toml``: a party's mutual-TLS files.

Two schema tables, since the default file names differ (:data:`SERVER_TLS`,
:data:`SILO_TLS`), and one dataclass, :class:`TlsFiles`. Reading the files is
:func:`fedseal.deploy.keyfile.read_tls`'s job (it checks that key, certificate and CA belong
together).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fedseal.config.checks import check_path
from fedseal.config.schema import STR, Option, Table
from fedseal.deploy.keyfile import read_tls

__all__ = ["SERVER_TLS", "SILO_TLS", "TlsFiles"]


def _file(key: str, default: str) -> Option:
    return Option(key=key, kind=STR, default=default, check=check_path, path=True)


_CA_CERT = _file("ca_cert", "ca.crt")
#: ``server.toml [tls]``.
SERVER_TLS = Table((_CA_CERT, _file("cert", "server.crt"), _file("key", "server.key")), "tls.")
#: ``silo.toml [tls]``.
SILO_TLS = Table((_CA_CERT, _file("cert", "silo.crt"), _file("key", "silo.key")), "tls.")


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """A party's mutual-TLS files: the deployment CA, its own certificate and private key."""

    ca_cert: Path
    cert: Path
    key: Path

    def __post_init__(self) -> None:
        SERVER_TLS.validate(self)

    def read(self) -> tuple[bytes, bytes, bytes]:
        """Return ``(ca_pem, cert_pem, key_pem)`` for ``grpc.ssl_*_credentials``.

        Raises
        ------
        ConfigError
            If a file is missing or unreadable, the key is readable by every user, the key
            does not match the certificate, the CA did not issue it, or it has expired.

        Warnings
        --------
        ``key_pem`` is the private key: pass it to the TLS library and drop it; never log it.
        """
        return read_tls(self.ca_cert, self.cert, self.key)
