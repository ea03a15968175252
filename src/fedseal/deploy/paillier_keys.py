"""The deployment's threshold Paillier key on disk: dealing it, writing and reading its files.

``fedseal provision --paillier`` acts as the trusted dealer of Damgård–Jurik 2001 §4 (after
Shoup 2000): :func:`deal_deployment_key` draws a fresh key with ``SystemRandomSource`` and shares
its decryption exponent among the deployment's silos with threshold
``t = full_parameters(n).threshold`` (the malicious-server bound of the masking mode). Two files
per party (``docs/paillier.md``):

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fedseal.deploy.files import check_private_file
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.secagg.paillier import KeyShare, ThresholdPublicKey

__all__ = [
    "PUBLIC_FILE",
    "SHARE_FILE",
    "DealtKey",
    "DeploymentKey",
    "deal_deployment_key",
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


@dataclass(frozen=True, kw_only=True, eq=False)
class DealtKey:
    """A freshly dealt key as provisioning writes it: public part, shares and file names.

    Warnings
    --------
    ``shares`` holds every silo's share: drop this object once the share files are written.
    """

    key: DeploymentKey
    shares: dict[str, KeyShare] = field(repr=False)
    public_name: str = PUBLIC_FILE
    share_name: str = SHARE_FILE

    @property
    def key_id(self) -> str:
        """The public key's id, hex (safe to print and audit)."""
        return self.key.public_key.key_id.hex()


def deal_deployment_key(
    *,
    deployment: str,
    silos: Sequence[str],
    key_bits: int,
    allow_insecure: bool = False,
    notify: Callable[[str], None] | None = None,
    versioned_names: bool = False,
) -> DealtKey:
    """Generate a threshold key for ``silos`` (sorted) with ``t = full_parameters(n).threshold``.

    Parameters
    ----------
    deployment : str
        The deployment id, recorded in the public file.
    silos : sequence of str
        The silos that receive a share.
    key_bits : int
        Modulus size: 2048 or 3072 in a deployment; smaller only with ``allow_insecure``.
    allow_insecure : bool
        Accept keys below 2048 bits (tests only).
    notify : callable, optional
        Called with a one-line message before the (slow) safe-prime search starts.
    versioned_names : bool
        Name the files ``paillier-public-<key id>.json`` and ``paillier-share-<key id>.key``
        (a re-deal: the files of the previous key are never overwritten).

    Returns
    -------
    DealtKey

    Warnings
    --------
    The caller is the trusted dealer: write each share to its silo's folder only
    (:func:`share_file_bytes`, with ``O_EXCL`` and mode 0600) and drop the dict. Whoever keeps
    ``t`` shares decrypts every contribution the server ever stored.
    """
    from fedseal.secagg.graph import full_parameters
    from fedseal.secagg.hazmat.randomness import SystemRandomSource
    from fedseal.secagg.paillier import generate_threshold_key

    check_key_bits(key_bits, allow_insecure)
    parties = tuple(sorted(silos))
    threshold = full_parameters(len(parties)).threshold
    if notify is not None:
        notify(
            f"dealing a {key_bits}-bit threshold Paillier key ({threshold} of {len(parties)} "
            "silos needed to decrypt); the safe-prime search takes seconds, at times a minute"
        )
    public, shares = generate_threshold_key(
        key_bits=key_bits,
        parties=len(parties),
        threshold=threshold,
        rng=SystemRandomSource(),
        allow_insecure=allow_insecure,
    )
    key = DeploymentKey(deployment_id=deployment, parties=parties, public_key=public)
    dealt = DealtKey(key=key, shares=dict(zip(parties, shares, strict=True)))
    if versioned_names:
        tag = dealt.key_id[:12]
        dealt = DealtKey(
            key=key,
            shares=dealt.shares,
            public_name=f"paillier-public-{tag}.json",
            share_name=f"paillier-share-{tag}.key",
        )
    return dealt


def check_key_bits(key_bits: object, allow_insecure: bool) -> int:
    """``key_bits`` is 2048 or 3072 (any even size >= 256 with ``allow_insecure``)."""
    if isinstance(key_bits, bool) or not isinstance(key_bits, int):
        raise ConfigError(f"paillier_bits must be an integer, got {key_bits!r}")
    if allow_insecure:
        if key_bits < 256 or key_bits % 2:
            raise ConfigError(f"paillier_bits must be even and >= 256, got {key_bits}")
    elif key_bits not in (2048, 3072):
        raise ConfigError(f"paillier_bits must be 2048 or 3072, got {key_bits}")
    return key_bits


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
    """The content of ``paillier-share.key`` (see the warning of :func:`deal_deployment_key`)."""
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
