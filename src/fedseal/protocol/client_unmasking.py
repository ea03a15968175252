"""The silo's stages 3 and 4 of a round: sign the survivor set, then answer the unmask request.

Bonawitz et al. (CCS 2017, §4 rounds 3 and 4, "ConsistencyCheck" and "Unmasking", Fig. 4),
restricted to graph neighbours as in SecAgg+ (Bell et al. 2020). :func:`sign_survivors` signs
the survivor set U3 once, bound to the round digest and the key directory;
:func:`answer_unmask` reveals, for each silo it holds shares of, either the share of its
self-mask seed ``b`` (a survivor) or of its mask key ``s_sk`` (dropped) -- never both -- and
only where at least ``t`` silos around it signed that same U3. It answers at most once per model
(:class:`~fedseal.protocol.release.ReleaseLedger`), so a server cannot difference sums over
several rounds on one model. Every check runs before the
:class:`~fedseal.protocol.client_round.ClientRound` is updated.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedseal.errors import ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client_round import ClientRound, check_not_released
from fedseal.protocol.release import ReleaseLedger
from fedseal.protocol.transcript import consistency_payload
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["answer_unmask", "sign_survivors"]


def sign_survivors(
    r: ClientRound, message: m.ConsistencyRequest, *, silo_id: str, identity: IdentityKey
) -> m.ConsistencySignature:
    """Stage 3: check the survivor set U3 and sign it (once) with the round digest.

    Parameters
    ----------
    r : ClientRound
        The round; ``survivors`` is set on success.
    message : ConsistencyRequest
        The survivor set the server proposes.
    silo_id : str
        This silo.
    identity : IdentityKey
        Signs the survivor set.

    Returns
    -------
    ConsistencySignature
        The silo's signature over the round digest, U3 and the key directory digest.

    Raises
    ------
    ProtocolViolation
        If the set is unsorted, leaves out this silo, names outsiders or a silent neighbour.
    RoundAbortedError
        If it has fewer than ``t`` silos.
    """
    assert r.held is not None
    survivors = message.survivors
    if list(survivors) != sorted(set(survivors)):
        raise ProtocolViolation("survivor set must be sorted and unique")
    if silo_id not in survivors:
        raise ProtocolViolation("survivor set leaves out this silo, which sent its input")
    if any(v not in r.indices for v in survivors):
        raise ProtocolViolation("survivor set names a silo outside the round")
    if len(survivors) < r.params.threshold:
        raise RoundAbortedError(f"only {len(survivors)} survivors, need {r.params.threshold}")
    delivered = set(r.held) | r.rejected
    if any(v in r.neighbours and v not in delivered for v in survivors):
        raise ProtocolViolation("survivor set has a neighbour that never shared keys")
    payload = consistency_payload(r.context, r.digest, survivors, r.directory)
    r.survivors = tuple(survivors)
    return m.ConsistencySignature(*r.context.fields(), silo_id, identity.sign(payload))


def answer_unmask(
    r: ClientRound,
    message: m.UnmaskRequest,
    *,
    silo_id: str,
    directory: Mapping[str, IdentityPublicKey],
    releases: ReleaseLedger,
    model_digest: bytes,
) -> m.UnmaskResponse:
    """Stage 4: reveal ``b`` shares of survivors and ``s_sk`` shares of dropped silos, once.

    The model is recorded in ``releases`` (durably) before the answer is returned, so a crash
    after this point never answers twice.

    Parameters
    ----------
    r : ClientRound
        The round.
    message : UnmaskRequest
        Survivors, dropped silos and the survivors' consistency signatures.
    silo_id : str
        This silo.
    directory : mapping of str to IdentityPublicKey
        Verifies the consistency signatures.
    releases : ReleaseLedger
        Models already answered on; ``model_digest`` is recorded in it.
    model_digest : bytes
        The model this round trained from.

    Returns
    -------
    UnmaskResponse
        The shares revealed, by owner.

    Raises
    ------
    ProtocolViolation, AuthenticationError
        If the request differs from what was signed, the model was already answered on, or
        fewer than ``t`` valid signatures surround a silo whose share would be revealed.
    """
    assert r.held is not None
    survivors, dropped = set(message.survivors), set(message.dropped)
    if tuple(message.survivors) != r.survivors:
        raise ProtocolViolation("unmask request names another survivor set than the one signed")
    if survivors & dropped:
        raise ProtocolViolation("a silo is listed both as survivor and as dropped; refusing")
    delivered = set(r.held) | r.rejected
    if any(
        v not in delivered or v == silo_id for v in dropped & set(r.closed_neighbourhoods[silo_id])
    ):
        raise ProtocolViolation("dropped set names a neighbour this silo holds no shares for")
    check_not_released(releases, model_digest)
    answered = [o for o in r.held if o in survivors or o in dropped]
    relevant: set[str] = set().union(*(r.closed_neighbourhoods[o] for o in answered))
    payload = consistency_payload(r.context, r.digest, r.survivors, r.directory)
    signers: set[str] = set()
    seen: set[str] = set()
    for silo, signature in message.signatures:
        if silo not in survivors or silo in seen:
            raise ProtocolViolation("consistency signature from a non-survivor or repeated")
        seen.add(silo)
        if silo in relevant:  # only signatures around the silos answered for are counted
            directory[silo].verify(payload, signature)  # AuthenticationError
            signers.add(silo)
    seed_out: list[tuple[str, bytes]] = []
    key_out: list[tuple[str, bytes]] = []
    for owner, (b_share, s_share) in sorted(r.held.items()):
        if owner in survivors:
            share, out = b_share, seed_out
        elif owner in dropped:
            share, out = s_share, key_out
        else:
            continue
        if len(signers & r.closed_neighbourhoods[owner]) < r.params.threshold:
            raise ProtocolViolation(
                f"fewer than {r.params.threshold} consistency signatures around {owner!r}"
            )
        out.append((owner, share.to_bytes()))
    # Durable before the answer leaves: a crash after this point never answers twice.
    releases.record(model_digest)
    return m.UnmaskResponse(*r.context.fields(), silo_id, tuple(seed_out), tuple(key_out))
