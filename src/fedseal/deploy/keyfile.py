"""Reading and writing a party's key files: its Ed25519 identity key and its TLS key pair.

The identity key (RFC 8032 Ed25519) is stored as an unencrypted PKCS#8 PEM file (RFC 5958,
RFC 8410 §7) so that standard tools (``openssl pkey -in identity.key``) can read it; fedseal
loads it back into :class:`fedseal.secagg.identity.IdentityKey`. TLS files are PEM
certificates (RFC 5280) and a PKCS#8 private key; :func:`read_tls` checks before any handshake
that the key matches the certificate and that the deployment CA issued it, so a mix-up is a
clear :class:`~fedseal.errors.ConfigError` instead of an opaque TLS failure.

Private key files must not be readable by every user (like ``ssh``, we refuse them); a
group-readable one only warns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fedseal.deploy.files import check_private_file
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.secagg.identity import IdentityKey

__all__ = ["identity_key_pem", "load_identity_key", "read_tls"]


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def identity_key_pem(key: IdentityKey) -> bytes:
    """The identity key as an unencrypted PKCS#8 PEM document (RFC 8410 §7).

    Warnings
    --------
    The result is the private key: write it only with :func:`fedseal.deploy.files.write_new`
    (mode 0600), never log or print it.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.from_private_bytes(key.reveal())
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private_key(data: bytes, path: Path, what: str) -> object:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(f"{what} {path} is encrypted; fedseal needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        # No detail from the parser: it is about the bytes of a secret.
        raise ConfigError(f"{what} {path} is not a PEM (PKCS#8) private key") from None


def load_identity_key(path: str | Path) -> IdentityKey:
    """Load a party's Ed25519 identity key from its PKCS#8 PEM file.

    Parameters
    ----------
    path
        The ``identity.key`` file written by ``fedseal provision``.

    Returns
    -------
    IdentityKey
        The secret key (redacted ``repr``).

    Raises
    ------
    ConfigError
        If the file is missing, readable by every user, not a PEM private key, encrypted, or
        not an Ed25519 key.

    Warns
    -----
    UserWarning
        If the file is readable by its group.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from fedseal.secagg.identity import IdentityKey

    path = Path(path)
    check_private_file(path, "identity key")
    key = _load_private_key(_read(path, "identity key"), path, "identity key")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"identity key {path} is not an Ed25519 key")
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return IdentityKey(seed)


def read_tls(
    ca_cert: Path, cert: Path, key: Path, *, now: datetime | None = None
) -> tuple[bytes, bytes, bytes]:
    """Read and cross-check a party's TLS files; return ``(ca_pem, cert_pem, key_pem)``.

    Checks that each file parses, that ``key`` is the private key of ``cert``, that one of the
    certificates in ``ca_cert`` signed ``cert`` and that ``cert`` is valid at ``now``
    (default: the current time).

    Raises
    ------
    ConfigError
        Naming the file, for any of these failures.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    ca_pem = _read(ca_cert, "TLS CA certificate")
    cert_pem = _read(cert, "TLS certificate")
    check_private_file(Path(key), "TLS key")
    key_pem = _read(key, "TLS key")
    try:
        authorities = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        raise ConfigError(f"TLS CA certificate {ca_cert} is not a PEM certificate") from None
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(f"TLS certificate {cert} is not a PEM certificate") from None
    private = _load_private_key(key_pem, Path(key), "TLS key")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = getattr(private, "public_key", None)
    if public is None or public().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise ConfigError(f"TLS key {key} does not belong to the certificate {cert}")
    for authority in authorities:
        try:
            leaf.verify_directly_issued_by(authority)
            break
        except (ValueError, TypeError, InvalidSignature):
            continue
    else:
        raise ConfigError(f"TLS certificate {cert} was not issued by the CA in {ca_cert}")
    when = now or datetime.now(UTC)
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        raise ConfigError(
            f"TLS certificate {cert} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d} "
            f"to {leaf.not_valid_after_utc:%Y-%m-%d}"
        )
    return ca_pem, cert_pem, key_pem
