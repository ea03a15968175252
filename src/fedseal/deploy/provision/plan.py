"""What a ``fedseal provision`` run will do: the :class:`Plan`, computed before anything is written.

A plan lists every action of a create (:func:`~fedseal.deploy.provision.create.plan_create`) or
an extend (:func:`~fedseal.deploy.provision.extend.plan_extend`): the keys and certificates to
issue (:class:`Issue`), the threshold Paillier key to deal (:class:`Deal`), the folders to make
(:class:`Folder`), the new files (:class:`NewFile`), the configs to write or rewrite
(:class:`ConfigFile`), the entries for the server's audit log (:class:`AuditEntry`) and, for a
create, ``deployment.toml``. :func:`~fedseal.deploy.provision.checks.validate` checks it and
:func:`~fedseal.deploy.provision.writing.apply` carries it out.

A plan holds no secret. Where a file or a value comes from a key that does not exist yet (a
private key, a certificate, a new silo's public key in ``[identities]``, a versioned Paillier
file name), the plan holds a :class:`Ref` naming it; :func:`fill` replaces the refs, with the
generated values in ``apply`` and with format-valid stand-ins in ``validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NewType

from fedseal.config.server import ServerConfig
from fedseal.deploy.paillier_keys import PUBLIC_FILE, SHARE_FILE
from fedseal.deploy.provision.request import Request

__all__ = [
    "AuditEntry",
    "ConfigFile",
    "Deal",
    "Folder",
    "Found",
    "Issue",
    "NewFile",
    "Outcome",
    "Plan",
    "Ref",
    "ValidPlan",
    "fill",
]

RefKind = Literal[
    "ca.crt",  # the CA certificate, PEM (an extend copies the file as it is)
    "ca.key",  # the CA's private key, PEM
    "tls.crt",  # a party's TLS certificate, PEM
    "tls.key",  # a party's TLS private key, PEM
    "identity.key",  # a party's Ed25519 identity key, PKCS#8 PEM
    "identity",  # a party's Ed25519 public key, hex
    "cert-fingerprint",  # SHA-256 of a certificate (the CA's, or a party's TLS certificate)
    "identity-fingerprint",  # fingerprint of a party's identity key
    "paillier-public",  # the content of paillier-public.json
    "paillier-share",  # the content of a silo's paillier-share.key
    "paillier-public-name",  # versioned file names: they carry the key id
    "paillier-share-name",
    "paillier-key-id",  # the dealt key's id (hex), size in bits and threshold
    "paillier-key-bits",
    "paillier-threshold",
]


@dataclass(frozen=True)
class Ref:
    """A value that exists only once ``apply`` generated the keys: ``what`` of ``holder``.

    ``holder`` is ``"ca"``, ``"server"`` or a silo's name; empty for the Paillier key.
    """

    what: RefKind
    holder: str = ""


@dataclass(frozen=True)
class Issue:
    """A key ``apply`` generates: the CA, a party's TLS key and certificate, or its identity key."""

    kind: Literal["ca", "tls", "identity"]
    holder: str


@dataclass(frozen=True, kw_only=True)
class Deal:
    """A threshold Paillier key ``apply`` deals to ``holders`` (the slow step: seconds to a minute).

    ``versioned``: the files are named after the key id (a re-deal never overwrites the
    previous key's files), so their names are :class:`Ref`\\ s until the key exists.
    """

    holders: tuple[str, ...]
    bits: int
    allow_insecure: bool
    versioned: bool
    notify: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def public_name(self) -> str | Ref:
        """The public file's name in ``server/`` and every holder's folder."""
        return Ref("paillier-public-name") if self.versioned else PUBLIC_FILE

    @property
    def share_name(self) -> str | Ref:
        """The share file's name in each holder's folder."""
        return Ref("paillier-share-name") if self.versioned else SHARE_FILE

    def point(self, doc: dict[str, Any], *, silo: bool) -> None:
        """Point a server (or a holder's silo) config document at the key's files.

        A silo document also gets ``paillier_allow_insecure_bits``: true exactly when the key
        is below ``MIN_SECURE_KEY_BITS`` (tests only: the silo refuses such a key otherwise);
        false again after a re-deal of a secure key. The dealt modulus has exactly ``bits``.
        """
        from fedseal.secagg.paillier import MIN_SECURE_KEY_BITS

        doc["paillier_public_key"] = self.public_name
        if silo:
            doc["paillier_key_share"] = self.share_name
            doc["paillier_allow_insecure_bits"] = self.bits < MIN_SECURE_KEY_BITS


@dataclass(frozen=True)
class Folder:
    """A directory ``apply`` makes if it is missing.

    ``kind``: ``"tree"`` for the deployment folder (with its parents, default mode),
    ``"plain"`` for ``silos/`` (mode 0700), ``"private"`` for a party's folder (mode 0700; an
    existing one must not be open to other users).
    """

    path: Path
    kind: Literal["tree", "plain", "private"] = "private"


@dataclass(frozen=True)
class NewFile:
    """A file ``apply`` creates with ``O_EXCL`` and its final mode: it is never overwritten."""

    folder: Path
    name: str | Ref
    mode: int
    content: Ref


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    """A config ``apply`` writes atomically (:func:`fedseal.deploy.layout.write_config`).

    Attributes
    ----------
    path, doc, what
        The file, the document (which may hold :class:`Ref`\\ s) and the header's name for it.
    check
        The name under which ``validate`` builds the config the document describes, or None
        (an extend's ``server.toml`` is checked against its loaded config instead).
    previous
        SHA-256 (hex) of the file the document was read from; ``apply`` refuses to replace a
        file that changed since. None for a new file.
    """

    path: Path
    doc: Mapping[str, Any] = field(hash=False)
    what: str
    check: str | None = None
    previous: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """An entry for the server's audit log: names, fingerprints and key ids, no key material."""

    event: str
    details: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class Found:
    """What an extend read from the deployment folder (public values only).

    Attributes
    ----------
    manifest
        ``deployment.toml``.
    server
        ``server.toml`` as loaded.
    local
        Each silo of ``server.silos`` whose ``silo.toml`` is in the folder -> the deployment
        id and silo name that file gives.
    """

    manifest: Mapping[str, Any] = field(hash=False)
    server: ServerConfig
    local: Mapping[str, tuple[str, str]] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the :class:`~fedseal.deploy.provision.result.ProvisionResult` will report."""

    ca_cert: Path
    server_config: Path
    server_key: Path
    server_identity: str | Ref
    identities: Mapping[str, str | Ref] = field(hash=False)
    added: tuple[str, ...]
    existing: tuple[str, ...] = ()
    not_updated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    audit_log: Path


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything a create or an extend will do (``apply`` decides the order of the writes).

    Attributes
    ----------
    request, names
        What was asked for, and its silo names (checked).
    host, port, now
        The server's address (the server certificate names the host) and the time the new
        certificates are valid from.
    found
        What an extend read from the folder; None for a create.
    move_aside
        With ``force_new``: the parts of the old deployment moved to ``replaced/<UTC time>/``.
    issue, deal
        Keys and certificates to generate; the threshold Paillier key to deal, or None.
    folders, files, configs, audit, manifest
        What is written: directories, new files, configs (``server.toml`` last), audit
        entries and, for a create, ``deployment.toml`` (last of all).
    outcome
        What the result reports.
    """

    request: Request
    names: tuple[str, ...]
    host: str
    port: int
    now: datetime
    found: Found | None = None
    move_aside: tuple[Path, ...] = ()
    issue: tuple[Issue, ...] = ()
    deal: Deal | None = None
    folders: tuple[Folder, ...] = ()
    files: tuple[NewFile, ...] = ()
    configs: tuple[ConfigFile, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    manifest: bytes | None = None
    outcome: Outcome

    @property
    def root(self) -> Path:
        """The deployment folder."""
        return self.request.root

    @property
    def writes(self) -> bool:
        """Whether applying the plan changes anything (an extend may have nothing to do)."""
        return bool(self.move_aside or self.folders or self.files or self.configs or self.audit)


#: A plan that :func:`~fedseal.deploy.provision.checks.validate` accepted.
ValidPlan = NewType("ValidPlan", Plan)


def fill(value: Any, resolve: Callable[[Ref], object]) -> Any:
    """A copy of ``value`` with every :class:`Ref` in it replaced.

    Parameters
    ----------
    value
        A config document or an audit entry's details: mappings, lists, plain values, refs.
    resolve
        Gives the value of a ref (a generated one, or a stand-in).

    Returns
    -------
    Any
        The copy: mappings become dicts and tuples lists; ``value`` is left as it was.
    """
    if isinstance(value, Ref):
        return resolve(value)
    if isinstance(value, Mapping):
        return {key: fill(item, resolve) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [fill(item, resolve) for item in value]
    return value
