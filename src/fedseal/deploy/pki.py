"""The deployment's small X.509 PKI: one CA, one server certificate, one client cert per silo.

Certificate profile (RFC 5280 §4.2.1), ECDSA P-256 with SHA-256 throughout because gRPC's
BoringSSL handshakes need it:

* **CA** — self-signed; ``basicConstraints`` CA=TRUE, pathLen=0 (critical, §4.2.1.9);
  ``keyUsage`` keyCertSign + cRLSign (critical, §4.2.1.3); subject key identifier (§4.2.1.2).
  Valid for ``CA_YEARS``.
* **server** — CN ``fedseal-server``; ``subjectAltName`` DNS:localhost, IP:127.0.0.1, IP:::1 and
  the configured host (§4.2.1.6); ``extendedKeyUsage`` serverAuth (§4.2.1.12).
* **silo** — CN = the silo's name, which is the *only* place the server takes a silo's identity
  from; ``extendedKeyUsage`` clientAuth, so a silo certificate cannot serve as the server's;
  ``subjectAltName`` URI ``urn:fedseal:<deployment>:silo:<name>`` (informational, but strict
  validators such as cryptography's ``ClientVerifier`` require a SAN in every leaf).

Leaves are CA=FALSE, ``keyUsage`` digitalSignature (critical), carry an authority key
identifier (§4.2.1.1), and are valid for ``LEAF_YEARS`` (never past the CA). Subjects carry
``O=fedseal, OU=<deployment id>``. Serial numbers are 159-bit random (§4.1.2.2).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedseal.errors import ConfigError

__all__ = [
    "CA_YEARS",
    "LEAF_YEARS",
    "SERVER_CN",
    "KeyPair",
    "cert_fingerprint",
    "create_ca",
    "issue_server",
    "issue_silo",
    "load_ca",
    "read_fingerprint",
    "silo_uri",
]

CA_YEARS = 5
LEAF_YEARS = 3
SERVER_CN = "fedseal-server"
#: Backdating of ``notBefore``, for clocks a little behind the provisioning machine's.
_SKEW = timedelta(minutes=5)
_DEFAULT_SANS: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    def cert_pem(self) -> bytes:
        """The certificate, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM.

        Warnings
        --------
        Secret: write it only with :func:`fedseal.deploy.files.write_new` (mode 0600).
        """
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER encoding, hex."""
        return cert_fingerprint(self.cert)


def cert_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of a certificate's DER encoding, hex (what ``openssl x509 -fingerprint`` shows)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def read_fingerprint(cert_path: Path) -> str:
    """The fingerprint of the certificate in ``cert_path`` (the CA's: its key is not read).

    Raises
    ------
    ConfigError
        If the file cannot be read or holds no PEM certificate.
    """
    try:
        return cert_fingerprint(x509.load_pem_x509_certificate(cert_path.read_bytes()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the CA certificate {cert_path}: {exc}") from None


def _name(deployment: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedseal"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, deployment),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_ca(deployment: str, *, now: datetime) -> KeyPair:
    """A new self-signed deployment CA, valid from ``now`` (aware) for ``CA_YEARS``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(deployment, f"fedseal CA {deployment}")
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert=cert, key=key)


def _issue(
    ca: KeyPair,
    *,
    deployment: str,
    common_name: str,
    usage: x509.ObjectIdentifier,
    sans: tuple[x509.GeneralName, ...],
    now: datetime,
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(deployment, common_name))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(min(now + timedelta(days=365 * LEAF_YEARS), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return KeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def issue_server(ca: KeyPair, *, deployment: str, host: str, now: datetime) -> KeyPair:
    """The server's TLS certificate: CN ``fedseal-server``, serverAuth, SANs for ``host``."""
    sans = list(_DEFAULT_SANS)
    try:
        address = ipaddress.ip_address(host)
        extra: x509.GeneralName | None = None if address.is_unspecified else x509.IPAddress(address)
    except ValueError:
        extra = x509.DNSName(host.lower())
    if extra is not None and extra not in sans:
        sans.append(extra)
    return _issue(
        ca,
        deployment=deployment,
        common_name=SERVER_CN,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=tuple(sans),
        now=now,
    )


def silo_uri(deployment: str, silo: str) -> str:
    """The URI SAN of a silo certificate: ``urn:fedseal:<deployment>:silo:<name>``."""
    return f"urn:fedseal:{deployment}:silo:{silo}"


def issue_silo(ca: KeyPair, *, deployment: str, silo: str, now: datetime) -> KeyPair:
    """A silo's TLS client certificate: CN = ``silo``, clientAuth, a URI SAN naming it."""
    return _issue(
        ca,
        deployment=deployment,
        common_name=silo,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=(x509.UniformResourceIdentifier(silo_uri(deployment, silo)),),
        now=now,
    )


def load_ca(cert_path: Path, key_path: Path) -> KeyPair:
    """Load the deployment CA written by :func:`create_ca` and check the key matches.

    Raises
    ------
    ConfigError
        If a file is unreadable, the key is readable by every user, not P-256, or not the CA's.
    """
    from fedseal.deploy.files import check_private_file

    check_private_file(key_path, "CA key")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"cannot read the deployment CA: {exc}") from None
    except (ValueError, TypeError):
        raise ConfigError(f"{cert_path} or {key_path} is not a PEM certificate / key") from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key().public_bytes(
        *spki
    ) != cert.public_key().public_bytes(*spki):
        raise ConfigError(f"CA key {key_path} does not belong to {cert_path}")
    return KeyPair(cert=cert, key=key)
