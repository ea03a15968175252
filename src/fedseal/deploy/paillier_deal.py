"""Dealing the deployment's threshold Paillier key (``fedseal provision --paillier``).

Provisioning acts as the trusted dealer of Damgård–Jurik 2001 §4 (after Shoup 2000):
:func:`deal_deployment_key` draws a fresh key with ``SystemRandomSource`` and shares its
decryption exponent among the deployment's silos with threshold
``t = full_parameters(n).threshold`` (the malicious-server bound of the masking mode). The
files it is written to are :mod:`fedseal.deploy.paillier_keys`'s. The dealer keeps nothing:
the factors and the shares exist only in the memory of the provisioning process (Python
cannot wipe them; run it on a machine you trust).

Imports ``fedseal.secagg.paillier`` (gmpy2, phe) only inside its functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fedseal.deploy.paillier_keys import PUBLIC_FILE, SHARE_FILE, DeploymentKey
from fedseal.errors import ConfigError

if TYPE_CHECKING:
    from fedseal.secagg.paillier import KeyShare

__all__ = ["DealtKey", "check_key_bits", "deal_deployment_key"]


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
    (:func:`~fedseal.deploy.paillier_keys.share_file_bytes`, with ``O_EXCL`` and mode 0600)
    and drop the dict. Whoever keeps ``t`` shares decrypts every contribution the server ever
    stored.
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
