"""The coordinator's checks of the silos' answers to stages 0 to 2 of a round.

Bonawitz et al. (CCS 2017, §4 rounds 0 to 2) with the neighbourhoods of Bell et al. (2020).
Each function judges one authenticated silo's message and raises
:class:`~fedseal.errors.ProtocolViolation` (or
:class:`~fedseal.errors.AuthenticationError`) if it breaks the protocol; it changes nothing.
:class:`~fedseal.protocol.server.ServerSession` then makes that silo a dropout of the stage
instead of stopping the round. Advertised keys of small order are refused here, at stage 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

import numpy as np

from fedseal.errors import ProtocolViolation
from fedseal.protocol import messages as m
from fedseal.protocol.transcript import COMMITMENT_BYTES, advertise_payload
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.keys import RoundContext, check_public_key

__all__ = ["check_advertisement", "check_masked_input", "check_share_keys"]


def check_advertisement(
    msg: m.AdvertiseKeys,
    *,
    silo: str,
    context: RoundContext,
    digest: bytes,
    identity: IdentityPublicKey,
    used_keys: Set[bytes],
) -> None:
    """Stage 0: the signature binds the round digest; the keys are valid and new.

    Parameters
    ----------
    msg : AdvertiseKeys
        The silo's advertisement.
    silo : str
        The authenticated silo.
    context : RoundContext
        Deployment and round.
    digest : bytes
        The round digest the silo must have signed.
    identity : IdentityPublicKey
        The silo's identity key.
    used_keys : set of bytes
        Every public key of the advertisements accepted so far (no key may repeat one).

    Raises
    ------
    AuthenticationError, ProtocolViolation
        If the signature fails, a key is invalid or of small order, or a key repeats.
    """
    payload = advertise_payload(context, digest, silo, msg.c_public, msg.s_public)
    identity.verify(payload, msg.signature)
    check_public_key(msg.c_public)
    check_public_key(msg.s_public)
    if msg.c_public in used_keys or msg.s_public in used_keys or msg.c_public == msg.s_public:
        raise ProtocolViolation("duplicate public key")


def check_share_keys(msg: m.ShareKeys, *, silo: str, allowed: Set[str]) -> None:
    """Stage 1: one committed share per neighbour that advertised keys, the silo's own unsent.

    The channel already authenticates the dealer; its signature is checked only when a
    commitment is used as evidence against a silo
    (:func:`~fedseal.protocol.server_shares.blame`), not on every round.

    Parameters
    ----------
    msg : ShareKeys
        The silo's encrypted shares and commitments.
    silo : str
        The authenticated silo (the dealer).
    allowed : set of str
        Its closed neighbourhood among the silos that advertised keys.

    Raises
    ------
    ProtocolViolation
        If a share has another sender, a receiver repeats or is not allowed, its own share
        carries a ciphertext, or a commitment is not 32 bytes.
    """
    receivers = [s.receiver for s in msg.shares]
    if any(s.sender != silo for s in msg.shares) or len(set(receivers)) != len(receivers):
        raise ProtocolViolation("shares with a wrong sender or a repeated receiver")
    if set(receivers) != allowed:
        raise ProtocolViolation("shares must go to exactly the silo's neighbours")
    if any(s.receiver == silo and s.ciphertext for s in msg.shares):
        raise ProtocolViolation("a silo's own share is committed to, never sent")
    if any(
        len(s.seed_commitment) != COMMITMENT_BYTES or len(s.key_commitment) != COMMITMENT_BYTES
        for s in msg.shares
    ):
        raise ProtocolViolation("share commitments must be 32 bytes")


def check_masked_input(
    msg: m.MaskedInput,
    *,
    silo: str,
    dtype: type[np.unsignedinteger[Any]],
    length: int,
    neighbourhood: Set[str],
    commitments: Mapping[tuple[str, str], tuple[bytes, bytes]],
) -> tuple[str, ...]:
    """Stage 2: a vector of the round's dtype and length, and complaints about real dealers.

    Parameters
    ----------
    msg : MaskedInput
        The silo's masked input and the dealers whose shares it rejected.
    silo : str
        The authenticated silo.
    dtype : numpy unsigned integer type
        ``uint32`` or ``uint64``, from the round's modulus.
    length : int
        The round's vector length.
    neighbourhood : set of str
        The silo's closed neighbourhood.
    commitments : mapping of (dealer, holder) to commitments
        Every share dealt at stage 1.

    Returns
    -------
    tuple of str
        The dealers the silo complains about.

    Raises
    ------
    ProtocolViolation
        If the vector has another dtype or shape, or a complaint names a silo that dealt this
        silo no share (or names one twice).
    """
    v = msg.vector
    if not isinstance(v, np.ndarray) or v.dtype != dtype:
        raise ProtocolViolation(f"masked input must be {np.dtype(dtype)}")
    if v.shape != (length,):
        raise ProtocolViolation(f"masked input must have {length} values, got {v.shape}")
    rejected = tuple(msg.rejected)
    if len(set(rejected)) != len(rejected) or any(
        d == silo or d not in neighbourhood or (d, silo) not in commitments for d in rejected
    ):
        raise ProtocolViolation("complaint about a silo that dealt this silo no share")
    return rejected
