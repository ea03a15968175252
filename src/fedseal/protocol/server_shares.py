"""The coordinator's handling of Shamir shares: routing, checking revealed ones, reconstruction.

Bonawitz et al. (CCS 2017, §4 rounds 1 and 4) with the graph of Bell et al. (2020). At stage 1
the server routes each encrypted share to its holder and keeps the dealer's commitments
(:func:`route_shares`). At unmasking it reconstructs, with one set of Lagrange coefficients per
set of responders (:func:`reconstruct`), the self-mask seeds of survivors and the mask keys of
silos that dropped after sharing, and says which pairwise masks of the latter to remove
(:func:`dropped_masks`).

Each dealer commits to every share it deals, inside its signed ``ShareKeys``. Every share
revealed at unmasking is checked against that commitment before it is used
(:func:`parse_unmask_response`): a silo that reveals a bad share is excluded from the
reconstruction and named in ``culprits`` (:func:`blame`), and any ``t`` valid shares
reconstruct. A silo whose secret cannot be reconstructed because its holders rejected its
shares (their complaints come with their masked inputs) is named too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Set

from fedseal.errors import ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.transcript import share_commitment, share_keys_payload
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.identity import IdentityPublicKey
from fedseal.secagg.keys import AgreementKey, RoundContext

__all__ = [
    "ParsedShares",
    "blame",
    "dropped_masks",
    "parse_unmask_response",
    "reconstruct",
    "route_shares",
]

#: One silo's unmask answer, checked: (``"b"`` or ``"s"``, owner) -> its share of that secret.
ParsedShares = dict[tuple[str, str], shamir.Share]


def route_shares(
    answered: Mapping[str, tuple[m.EncryptedShare, ...]],
    dealers: Set[str],
    commitments: dict[tuple[str, str], tuple[bytes, bytes]],
) -> dict[str, list[m.EncryptedShare]]:
    """Close stage 1: record every commitment and route every sent share to its holder.

    Parameters
    ----------
    answered : mapping of str to tuple of EncryptedShare
        Each dealer's accepted shares.
    dealers : set of str
        The silos that shared their keys (U2).
    commitments : dict
        Filled with ``(dealer, holder) -> (seed commitment, key commitment)``.

    Returns
    -------
    dict of str to list of EncryptedShare
        For each silo of U2, the shares dealt to it by the others.
    """
    routed: dict[str, list[m.EncryptedShare]] = {s: [] for s in dealers}
    for sender in sorted(dealers):
        for share in answered[sender]:
            commitments[(sender, share.receiver)] = (share.seed_commitment, share.key_commitment)
            if share.receiver in routed and share.receiver != sender:
                routed[share.receiver].append(share)
    return routed


def parse_unmask_response(
    msg: m.UnmaskResponse,
    *,
    silo: str,
    index: int,
    survivors: Set[str],
    dropped: Set[str],
    closed: Mapping[str, frozenset[str]],
    commitments: Mapping[tuple[str, str], tuple[bytes, bytes]],
    context: RoundContext,
    on_bad_share: Callable[[str, str], str],
) -> ParsedShares:
    """Stage 4: check every revealed share against its dealer's commitment, and parse it.

    Parameters
    ----------
    msg : UnmaskResponse
        The silo's revealed shares.
    silo : str
        The authenticated silo (the holder).
    index : int
        Its Shamir x-coordinate.
    survivors, dropped : set of str
        Owners whose ``b`` share, respectively ``s_sk`` share, was requested.
    closed : mapping of str to frozenset of str
        Closed neighbourhood of every silo.
    commitments : mapping of (dealer, holder) to commitments
        Every share dealt at stage 1.
    context : RoundContext
        Deployment and round.
    on_bad_share : callable
        Called with ``(holder, dealer)`` for a share that fails its commitment; returns the
        reason raised (see :func:`blame`).

    Returns
    -------
    ParsedShares
        The shares by kind and owner.

    Raises
    ------
    ProtocolViolation
        If an owner repeats, gets both kinds, was not requested or dealt this silo nothing,
        or a share fails its commitment.
    """
    owners_b = [o for o, _ in msg.seed_shares]
    owners_s = [o for o, _ in msg.key_shares]
    if len(set(owners_b)) != len(owners_b) or len(set(owners_s)) != len(owners_s):
        raise ProtocolViolation("repeated share owner")
    if set(owners_b) & set(owners_s):
        raise ProtocolViolation("both kinds of share for one silo")
    parsed: ParsedShares = {}
    # The graph is undirected: silo is in closed[owner] exactly when owner is in closed[silo].
    around = closed[silo]
    for kind, items, allowed in (("b", msg.seed_shares, survivors), ("s", msg.key_shares, dropped)):
        for owner, data in items:
            if owner not in allowed or owner not in around:
                raise ProtocolViolation(f"unrequested share for {owner!r}")
            committed = commitments.get((owner, silo))
            if committed is None:
                raise ProtocolViolation(f"{owner!r} dealt no share to this silo")
            expected = committed[0] if kind == "b" else committed[1]
            if share_commitment(context, kind, owner, silo, data) != expected:
                raise ProtocolViolation(on_bad_share(silo, owner))
            parsed[(kind, owner)] = shamir.Share.from_bytes(index, data)
    return parsed


def blame(
    holder: str,
    dealer: str,
    *,
    signed: m.ShareKeys,
    dealer_key: IdentityPublicKey,
    context: RoundContext,
    digest: bytes,
    culprits: dict[str, str],
) -> str:
    """Name who is at fault for a revealed share that fails its commitment; returns why.

    A holder checks every share against this commitment when it receives it, so the
    mismatch is the holder's doing, provided the dealer really signed the commitment.

    Parameters
    ----------
    holder, dealer : str
        The silo that revealed the share and the silo that dealt it.
    signed : ShareKeys
        The dealer's ``ShareKeys``, with its signature.
    dealer_key : IdentityPublicKey
        The dealer's identity key.
    context : RoundContext
        Deployment and round.
    digest : bytes
        The round digest.
    culprits : dict of str to str
        The session's culprits; the one at fault is added.

    Returns
    -------
    str
        The reason, safe to log and audit.
    """
    payload = share_keys_payload(context, digest, dealer, signed.shares)
    try:
        dealer_key.verify(payload, signed.signature)
    except ProtocolViolation:
        culprits[dealer] = "its ShareKeys signature does not verify"
        return f"a share of {dealer!r} fails a commitment {dealer!r} did not sign"
    culprits[holder] = f"revealed a share of {dealer!r} that fails its commitment"
    return culprits[holder]


def reconstruct(
    kind: str,
    owners: list[str],
    *,
    answers: Collection[ParsedShares],
    threshold: int,
    complaints: Mapping[str, set[str]],
    culprits: dict[str, str],
) -> dict[str, bytes]:
    """Reconstruct the ``kind`` secret (``"b"`` or ``"s"``) of every owner from ``t`` shares.

    Parameters
    ----------
    kind : str
        ``"b"`` (self-mask seeds) or ``"s"`` (mask keys).
    owners : list of str
        Whose secrets to reconstruct.
    answers : collection of ParsedShares
        Every checked unmask answer.
    threshold : int
        ``t``: the shares used per secret.
    complaints : mapping of str to set of str
        Dealer -> holders that rejected its share.
    culprits : dict of str to str
        The session's culprits; an owner its holders rejected is added if it falls short.

    Returns
    -------
    dict of str to bytes
        Each owner's secret.

    Raises
    ------
    RoundAbortedError
        If an owner has fewer than ``t`` valid shares.
    """
    t = threshold
    # One pass over the answers (O(n k) shares), not one pass per owner (O(n^2)).
    by_owner: dict[str, list[shamir.Share]] = {owner: [] for owner in owners}
    for answer in answers:
        for (share_kind, owner), share in answer.items():
            if share_kind == kind and owner in by_owner:
                by_owner[owner].append(share)
    groups: dict[tuple[int, ...], list[tuple[str, list[int]]]] = {}
    for owner in owners:
        shares = sorted(by_owner[owner], key=lambda s: s.x)
        if len(shares) < t:
            complained = complaints.get(owner, set())
            if complained:
                culprits[owner] = (
                    f"{len(complained)} neighbours rejected its shares; its secret cannot "
                    "be reconstructed"
                )
            raise RoundAbortedError(
                f"only {len(shares)} valid shares to unmask {owner!r}, the threshold is {t}"
            )
        xs = tuple(s.x for s in shares[:t])
        groups.setdefault(xs, []).append((owner, [s.y for s in shares[:t]]))
    out: dict[str, bytes] = {}
    for xs, rows in groups.items():
        secrets = shamir.reconstruct_many(xs, [ys for _, ys in rows])
        out.update({owner: secret for (owner, _), secret in zip(rows, secrets, strict=True)})
    return out


def dropped_masks(
    dropped: list[str],
    keys: Mapping[str, bytes],
    *,
    survivors: Set[str],
    indices: Mapping[str, int],
    ads: Mapping[str, m.AdvertiseKeys],
    closed: Mapping[str, frozenset[str]],
    culprits: dict[str, str],
) -> list[tuple[int, AgreementKey, dict[int, bytes]]]:
    """The pairwise masks of dropped silos to remove: ``(index, key, {masker: s_public})``.

    Parameters
    ----------
    dropped : list of str
        Silos that shared keys but sent no masked input.
    keys : mapping of str to bytes
        Their reconstructed mask keys.
    survivors : set of str
        Silos whose masked input is in the sum.
    indices : mapping of str to int
        Each participant's index 1..n.
    ads : mapping of str to AdvertiseKeys
        Every accepted advertisement.
    closed : mapping of str to frozenset of str
        Closed neighbourhood of every silo.
    culprits : dict of str to str
        The session's culprits; a dealer of inconsistent shares is added.

    Returns
    -------
    list of tuple
        One entry per dropped silo, for :func:`~fedseal.secagg.masking.unmask_sum`.

    Raises
    ------
    RoundAbortedError
        If a reconstructed key does not match the dropped silo's advertised key.
    """
    lost = []
    for silo in dropped:
        key = AgreementKey(keys[silo])
        if key.public_bytes() != ads[silo].s_public:
            # Every share matched its commitment, so the dealer itself dealt bad shares.
            culprits[silo] = "dealt shares that do not reconstruct its advertised key"
            raise RoundAbortedError(f"reconstructed key of {silo!r} does not match its advert")
        # Survivors that received this silo's shares (its neighbours) masked with it: found
        # among its k neighbours, not by scanning every survivor.
        maskers = {
            indices[u]: ads[u].s_public
            for u in sorted(closed[silo])
            if u in survivors and u != silo
        }
        lost.append((indices[silo], key, maskers))
    return lost
