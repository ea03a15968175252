"""The silo's stages 1 and 2 of a round: deal its shares, then open its neighbours' and mask.

Bonawitz et al. (CCS 2017, §4 rounds 1 and 2, "ShareKeys" and "MaskedInputCollection"),
restricted to graph neighbours as in SecAgg+ (Bell et al. 2020). :func:`share_keys` checks the
key directory (neighbours' advertisements must verify against the round digest) and deals
committed Shamir shares of ``b`` and ``s_sk`` to the neighbours; :func:`mask` opens the shares
dealt to this silo and masks its input. Every check runs before the
:class:`~fedseal.protocol.client_round.ClientRound` is updated, so a refused message changes
nothing; :class:`~fedseal.protocol.client.ClientSession` calls these from its transition table.

A share whose ciphertext fails authentication or does not match its dealer's commitment is
*rejected*, not fatal (:func:`mask`): this silo holds nothing for that dealer, still masks with
it, and names it in its masked input, so one malicious silo cannot abort the round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from fedseal.errors import AuthenticationError, ConfigError, ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client_round import ClientRound
from fedseal.protocol.sharing import commit_pair, open_pair, seal_pair
from fedseal.protocol.transcript import advertise_payload, key_directory_digest, share_keys_payload
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.keys import check_public_key
from fedseal.secagg.masking import mask_input

__all__ = ["mask", "share_keys"]


def share_keys(
    r: ClientRound,
    message: m.KeyDirectory,
    *,
    silo_id: str,
    identity: IdentityKey,
    directory: Mapping[str, IdentityPublicKey],
    rng: RandomSource,
) -> m.ShareKeys:
    """Stage 1: check the key directory, then deal and commit shares of ``b`` and ``s_sk``.

    Parameters
    ----------
    r : ClientRound
        The round; its directory fields are filled on success.
    message : KeyDirectory
        Every advertisement the server accepted.
    silo_id : str
        This silo.
    identity : IdentityKey
        Signs the share commitments.
    directory : mapping of str to IdentityPublicKey
        Identity keys of the deployment's silos (neighbours' advertisements are verified).
    rng : RandomSource
        Shamir coefficients and encryption nonces.

    Returns
    -------
    ShareKeys
        One encrypted, committed share pair per neighbour, signed.

    Raises
    ------
    ProtocolViolation, AuthenticationError
        If the directory is malformed or a neighbour's advertisement does not verify.
    RoundAbortedError
        If too few silos (or neighbours) advertised keys.
    """
    p = r.params
    by_silo: dict[str, m.AdvertiseKeys] = {}
    seen_keys: set[bytes] = set()
    for ad in message.advertisements:
        if ad.sender in by_silo or ad.sender not in r.indices:
            raise ProtocolViolation("key directory has a duplicate or unknown silo")
        if (ad.deployment_id, ad.round_id) != r.context.fields():
            raise ProtocolViolation("advertisement belongs to another round")
        if ad.c_public in seen_keys or ad.s_public in seen_keys or ad.c_public == ad.s_public:
            raise ProtocolViolation("key directory repeats a public key")
        seen_keys.update((ad.c_public, ad.s_public))
        by_silo[ad.sender] = ad
    mine = by_silo.get(silo_id)
    if mine is None or (mine.c_public, mine.s_public) != (
        r.c_key.public_bytes(),
        r.s_key.public_bytes(),
    ):
        raise ProtocolViolation("key directory does not carry this silo's own keys")
    if len(by_silo) < p.threshold:
        raise RoundAbortedError(f"only {len(by_silo)} silos advertised keys, need {p.threshold}")
    closed = r.closed_neighbourhoods
    holders = sorted(v for v in closed[silo_id] if v in by_silo)
    # Only neighbours' keys are used, so only their signatures matter: a forged key of any
    # other silo changes nothing this silo sends or accepts. A neighbour that signed another
    # round digest was shown another model or other parameters: refuse the round.
    for v in holders:
        ad = by_silo[v]
        payload = advertise_payload(r.context, r.digest, v, ad.c_public, ad.s_public)
        directory[v].verify(payload, ad.signature)  # AuthenticationError
        check_public_key(ad.c_public)  # an honest server dropped such an advertiser
        check_public_key(ad.s_public)
    if len(holders) < p.threshold:
        raise RoundAbortedError("too few neighbours advertised keys to hold this silo's shares")
    xs = [r.indices[v] for v in holders]
    seed_shares = shamir.split(r.seed.reveal(), xs, p.threshold, rng)
    key_shares = shamir.split(r.s_key.reveal(), xs, p.threshold, rng)
    out, held = [], {}
    for v, pair in zip(holders, zip(seed_shares, key_shares, strict=True), strict=True):
        if v == silo_id:  # its own share: committed like the others, never sent
            held[v] = pair
            own = commit_pair(r.context, silo_id, v, pair)
            out.append(m.EncryptedShare(silo_id, v, b"", *own))
            continue
        out.append(
            seal_pair(
                r.context,
                c_key=r.c_key,
                holder_c_public=by_silo[v].c_public,
                dealer=(silo_id, r.index),
                holder=(v, r.indices[v]),
                pair=pair,
                rng=rng,
            )
        )
    signature = identity.sign(share_keys_payload(r.context, r.digest, silo_id, out))
    r.directory = key_directory_digest(r.context, by_silo.values())
    r.neighbours = frozenset(holders) - {silo_id}
    # Only neighbours' keys are ever used (their shares, their pair masks): keep k, not n.
    r.s_publics = {v: by_silo[v].s_public for v in holders}
    r.held = held
    r.c_publics = {v: by_silo[v].c_public for v in holders}
    return m.ShareKeys(*r.context.fields(), silo_id, tuple(out), signature)


def mask(
    r: ClientRound,
    message: m.ShareDelivery,
    *,
    silo_id: str,
    encoded: npt.NDArray[Any] | None,
) -> m.MaskedInput:
    """Stage 2: open the neighbours' shares, then mask the input with every dealer's key.

    Parameters
    ----------
    r : ClientRound
        The round; ``held`` and ``rejected`` are updated on success.
    message : ShareDelivery
        The shares the neighbours dealt this silo.
    silo_id : str
        This silo.
    encoded : numpy.ndarray, optional
        The encoded input (``None`` if it was never provided).

    Returns
    -------
    MaskedInput
        The masked input, naming the dealers whose share was rejected.

    Raises
    ------
    ConfigError
        If no input was provided.
    ProtocolViolation
        If a share comes from a non-neighbour, is meant for another silo or is repeated.
    RoundAbortedError
        If fewer than ``t`` neighbours shared keys.
    """
    assert r.held is not None
    assert r.s_publics is not None and r.c_publics is not None
    p = r.params
    if encoded is None:
        raise ConfigError("provide_input() must be called before the shares arrive")
    held = dict(r.held)
    rejected: set[str] = set()
    for share in message.shares:
        if share.receiver != silo_id or share.sender not in r.neighbours:
            raise ProtocolViolation("share from a non-neighbour or for another silo")
        if share.sender in held or share.sender in rejected:
            raise ProtocolViolation("two shares from the same silo")
        try:
            held[share.sender] = open_pair(
                r.context,
                share,
                c_key=r.c_key,
                dealer_c_public=r.c_publics[share.sender],
                dealer_index=r.indices[share.sender],
                holder_index=r.index,
            )
        except AuthenticationError:
            # Hold nothing for this dealer but still mask with it: the masks cancel, and
            # the round survives while t other neighbours hold valid shares of it.
            rejected.add(share.sender)
    delivered = set(held) | rejected
    if len(delivered) < p.threshold:
        raise RoundAbortedError(f"only {len(delivered)} neighbours shared keys, need {p.threshold}")
    peers = {r.indices[v]: r.s_publics[v] for v in delivered if v != silo_id}
    masked = mask_input(
        encoded, index=r.index, seed=r.seed, s_key=r.s_key, peers=peers, context=r.context
    )
    r.held = held
    r.rejected = frozenset(rejected)
    return m.MaskedInput(*r.context.fields(), silo_id, masked, tuple(sorted(rejected)))
