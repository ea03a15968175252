"""Dealing and opening one silo's pair of Shamir shares for one neighbour, with commitments.

Bonawitz et al. 2017, §4 round 1 ("ShareKeys"): silo ``u`` sends each neighbour ``v`` a share
of its self-mask seed ``b_u`` and of its mask key ``s_sk_u``, encrypted with AES-GCM under a key
agreed from the ``c`` keys. fedseal adds a commitment to each share
(:func:`~fedseal.protocol.transcript.share_commitment`), carried beside the ciphertext and
covered by the dealer's ``ShareKeys`` signature, so that the server can check every share it
is later shown (``docs/secagg.md`` §4).
"""

from __future__ import annotations

from fedseal.errors import AuthenticationError, ProtocolViolation
from fedseal.protocol.messages import EncryptedShare
from fedseal.protocol.transcript import share_ad, share_commitment
from fedseal.secagg.hazmat import aead, shamir
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.keys import AgreementKey, RoundContext
from fedseal.secagg.masking import share_key

__all__ = ["SharePair", "commit_pair", "open_pair", "seal_pair"]

SharePair = tuple[shamir.Share, shamir.Share]  # (share of b, share of s_sk)


def commit_pair(
    context: RoundContext, dealer: str, holder: str, pair: SharePair
) -> tuple[bytes, bytes]:
    """The dealer's commitments to the ``b`` and ``s_sk`` shares it deals ``holder``."""
    b_share, s_share = pair
    return (
        share_commitment(context, "b", dealer, holder, b_share.to_bytes()),
        share_commitment(context, "s", dealer, holder, s_share.to_bytes()),
    )


def seal_pair(
    context: RoundContext,
    *,
    c_key: AgreementKey,
    holder_c_public: bytes,
    dealer: tuple[str, int],
    holder: tuple[str, int],
    pair: SharePair,
    rng: RandomSource,
) -> EncryptedShare:
    """Encrypt ``pair`` for ``holder`` (name, index) and attach the commitments."""
    key = share_key(c_key, holder_c_public, context, dealer[1], holder[1])
    plaintext = pair[0].to_bytes() + pair[1].to_bytes()
    sealed = aead.seal(key, plaintext, share_ad(context, dealer[0], holder[0]), rng)
    commitments = commit_pair(context, dealer[0], holder[0], pair)
    return EncryptedShare(dealer[0], holder[0], sealed, *commitments)


def open_pair(
    context: RoundContext,
    share: EncryptedShare,
    *,
    c_key: AgreementKey,
    dealer_c_public: bytes,
    dealer_index: int,
    holder_index: int,
) -> SharePair:
    """Decrypt one share pair and check it against the commitments sent with it.

    Raises
    ------
    AuthenticationError
        If the ciphertext does not authenticate, has the wrong length, or a share does not
        match its commitment. Opaque on purpose: the dealer or the server tampered with it.
    """
    key = share_key(c_key, dealer_c_public, context, dealer_index, holder_index)
    ad = share_ad(context, share.sender, share.receiver)
    plain = aead.open_sealed(key, share.ciphertext, ad)
    if len(plain) != 2 * shamir.SECRET_BYTES:
        raise AuthenticationError()
    try:
        pair = (
            shamir.Share.from_bytes(holder_index, plain[: shamir.SECRET_BYTES]),
            shamir.Share.from_bytes(holder_index, plain[shamir.SECRET_BYTES :]),
        )
    except ProtocolViolation:
        raise AuthenticationError() from None
    expected = commit_pair(context, share.sender, share.receiver, pair)
    if expected != (share.seed_commitment, share.key_commitment):
        raise AuthenticationError()
    return pair
