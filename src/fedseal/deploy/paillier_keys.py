"""The deployment's threshold Paillier key on disk: writing and reading its files.

``fedseal provision --paillier`` deals the key (:mod:`fedseal.deploy.paillier_deal`); this module
holds what is on disk afterwards: two files per party (``docs/paillier.md``):

``paillier-public.json``  (mode 0644, server and every silo)
    ``{"format", "deployment_id", "parties", "key"}``: ``key`` is
    ``ThresholdPublicKey.to_json()``; ``parties`` lists the silo names in key-share order, so
    silo ``parties[i - 1]`` holds share ``i``. Nothing in it is secret.
``paillier-share.key``  (mode 0600, ``O_EXCL``, one silo only)
    The silo's :class:`~fedseal.secagg.paillier.KeyShare` as a PEM-style armoured block.

Loading checks everything the files must agree on: the deployment id, that the parties are
silos of the deployment, that the share belongs to this public key and carries this silo's
index. The dealer keeps nothing: the factors and the shares exist only in the memory of the
provisioning process (Python cannot wipe them; run it on a machine you trust).

Imports ``fedseal.secagg.paillier`` (gmpy2, phe) only inside its functions, so that loading a
config does not need the optional ``paillier`` dependencies.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fedseal.deploy.files import check_private_file
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.secagg.paillier import KeyShare, ThresholdPublicKey

__all__ = [
    "PUBLIC_FILE",
    "SHARE_FILE",
    "DeploymentKey",
    "load_deployment_key",
    "load_key_share",
    "public_file_bytes",
    "share_file_bytes",
]

PUBLIC_FILE = "paillier-public.json"
SHARE_FILE = "paillier-share.key"
_FORMAT = "fedseal-paillier-public/1"
_ARMOR = "FEDSEAL PAILLIER KEY SHARE"
_BLOCK = re.compile(
    rf"-----BEGIN {_ARMOR}-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END {_ARMOR}-----\s*\Z"
)


@dataclass(frozen=True, kw_only=True)
class DeploymentKey:
    """The public half of a deployment's threshold Paillier key and who holds which share.

    Attributes
    ----------
    deployment_id : str
        The deployment the key was dealt for.
    parties : tuple of str
        Silo names in share order: ``parties[i - 1]`` holds share ``i``.
    public_key : ThresholdPublicKey
        ``N``, ``t`` and the verification keys.
    """

    deployment_id: str
    parties: tuple[str, ...]
    public_key: ThresholdPublicKey

    def __post_init__(self) -> None:
        if len(self.parties) != self.public_key.parties:
            raise ConfigError(
                f"the key has {self.public_key.parties} shares but names "
                f"{len(self.parties)} parties"
            )
        if len(set(self.parties)) != len(self.parties):
            raise ConfigError("the key names a party twice")

    def index_of(self, silo: str) -> int:
        """Share index (1-based) of ``silo``.

        Raises
        ------
        ConfigError
            If ``silo`` holds no share of this key.
        """
        try:
            return self.parties.index(silo) + 1
        except ValueError:
            raise ConfigError(
                f"silo {silo!r} holds no share of this Paillier key (dealt for "
                f"{list(self.parties)}); re-deal it with `fedseal provision --redeal-paillier`"
            ) from None


def public_file_bytes(key: DeploymentKey) -> bytes:
    """The content of ``paillier-public.json``."""
    doc = {
        "format": _FORMAT,
        "deployment_id": key.deployment_id,
        "parties": list(key.parties),
        "key": json.loads(key.public_key.to_json()),
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def share_file_bytes(share: KeyShare) -> bytes:
    """The content of ``paillier-share.key``.

    See the warning of :func:`fedseal.deploy.paillier_deal.deal_deployment_key`.
    """
    body = base64.encodebytes(share.reveal()).decode("ascii")
    return f"-----BEGIN {_ARMOR}-----\n{body}-----END {_ARMOR}-----\n".encode("ascii")


def load_deployment_key(
    path: Path, *, deployment_id: str, silos: Sequence[str] | None = None, min_bits: int = 0
) -> DeploymentKey:
    """Read ``paillier-public.json`` and check it belongs to this deployment.

    Parameters
    ----------
    path : Path
        The file.
    deployment_id : str
        The deployment of the config that names the file.
    silos : sequence of str, optional
        The deployment's silos; every party of the key must be one of them.
    min_bits : int
        Smallest modulus size accepted. A silo passes
        :data:`~fedseal.secagg.paillier.MIN_SECURE_KEY_BITS` unless its ``silo.toml`` sets
        ``paillier_allow_insecure_bits``; 0 (the default) accepts any size the key format does.

    Raises
    ------
    ConfigError
        If the file is unreadable or malformed, its key id does not match its key, its modulus
        is below ``min_bits``, or it was dealt for another deployment or for silos the
        deployment does not have.
    """
    from fedseal.secagg.paillier import ThresholdPublicKey

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ConfigError(f"format must be {_FORMAT!r}")
        parties = doc["parties"]
        if not isinstance(parties, list) or not all(isinstance(p, str) for p in parties):
            raise ConfigError("parties must be a list of silo names")
        public = ThresholdPublicKey.from_json(json.dumps(doc["key"]))
        key = DeploymentKey(
            deployment_id=str(doc["deployment_id"]), parties=tuple(parties), public_key=public
        )
    except OSError as exc:
        raise ConfigError(f"cannot read Paillier public key {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise ConfigError(f"Paillier public key {path}: {exc}") from None
    if key.deployment_id != deployment_id:
        raise ConfigError(
            f"Paillier public key {path} was dealt for deployment {key.deployment_id!r}, "
            f"not {deployment_id!r}"
        )
    if silos is not None:
        unknown = sorted(set(key.parties) - set(silos))
        if unknown:
            raise ConfigError(
                f"Paillier public key {path} gives a share to {unknown[0]!r}, which is not a "
                "silo of this deployment"
            )
    bits = key.public_key.key_bits
    if bits < min_bits:
        raise ConfigError(
            f"Paillier public key {path} is a {bits}-bit key, below the minimum of {min_bits} "
            "bits: deal a new key with `fedseal provision --redeal-paillier`"
        )
    return key


def load_key_share(path: Path, key: DeploymentKey, silo: str) -> KeyShare:
    """Read ``silo``'s ``paillier-share.key`` and check it is share ``index_of(silo)`` of ``key``.

    Raises
    ------
    ConfigError
        If the file is missing, readable by every user, malformed, or a share of another key
        or of another silo.
    """
    from fedseal.secagg.paillier import KeyShare

    check_private_file(Path(path), "Paillier key share")
    try:
        match = _BLOCK.fullmatch(Path(path).read_text(encoding="ascii"))
        if match is None:
            raise ConfigError("not a fedseal Paillier key share file")
        share = KeyShare(base64.b64decode("".join(match.group(1).split()), validate=True))
    except OSError as exc:
        raise ConfigError(f"cannot read Paillier key share {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, binascii.Error, ConfigError) as exc:
        # The message never quotes the file's content.
        reason = exc if isinstance(exc, ConfigError) else "not a fedseal Paillier key share file"
        raise ConfigError(f"Paillier key share {path}: {reason}") from None
    if share.key_id != key.public_key.key_id:
        raise ConfigError(f"Paillier key share {path} belongs to another key than the public one")
    expected = key.index_of(silo)
    if share.index != expected:
        raise ConfigError(
            f"Paillier key share {path} is share {share.index}, but silo {silo!r} holds share "
            f"{expected} (a share copied from another silo?)"
        )
    return share
