"""What a silo holds during one secure-aggregation round, and how it opens one (stage NEW).

Bonawitz et al. (CCS 2017, §4 round 0, "AdvertiseKeys") with the neighbourhoods of SecAgg+
(Bell et al. 2020). :func:`open_round` judges a :class:`~fedseal.protocol.messages.BeginRound`
-- deployment, freshness, roster, the silo's own
:class:`~fedseal.protocol.policy.ClientPolicy`, the one-answer-per-model rule -- and only then
draws the round's keys into a :class:`ClientRound`; :func:`advertisement` signs its public
keys. The round digest binds the ``TrainRequest`` the silo was sent and the round's parameters,
so a neighbour shown another model or other parameters signs something this silo refuses.

A :class:`ClientRound` holds the round's secrets (``b``, ``s_sk``, ``c_sk``, the shares held
for others). It belongs to exactly one :class:`~fedseal.protocol.client.ClientSession`, which
drops it when the round ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import messages as m
from fedseal.protocol.policy import ClientPolicy
from fedseal.protocol.release import ReleaseLedger
from fedseal.protocol.transcript import advertise_payload, round_digest
from fedseal.secagg.graph import ClosedNeighbourhoods, GraphParams
from fedseal.secagg.hazmat import shamir
from fedseal.secagg.hazmat.randomness import RandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext

__all__ = ["ClientRound", "advertisement", "check_not_released", "check_vector", "open_round"]


@dataclass
class ClientRound:
    """The silo's state for one round: its secrets and what it learned, stage by stage.

    The fields from ``directory`` on are filled when the key directory arrives (``held`` and
    ``rejected`` again with the shares, ``survivors`` with the consistency request).
    """

    params: m.RoundParams
    context: RoundContext
    index: int
    c_key: AgreementKey
    s_key: AgreementKey
    seed: MaskSeed
    graph: GraphParams
    digest: bytes
    closed_neighbourhoods: Mapping[str, frozenset[str]]
    indices: Mapping[str, int]  # participant -> index 1..n (its Shamir x); O(1) membership
    directory: bytes = b""
    neighbours: frozenset[str] = frozenset()
    s_publics: Mapping[str, bytes] | None = None
    c_publics: Mapping[str, bytes] | None = None
    held: Mapping[str, tuple[shamir.Share, shamir.Share]] | None = None  # owner -> (b, s_sk)
    rejected: frozenset[str] = frozenset()  # neighbours whose share failed its checks
    survivors: tuple[str, ...] = ()


def check_vector(vector: npt.NDArray[Any], params: m.RoundParams) -> None:
    """Check that ``vector`` is an encoded input of the round described by ``params``.

    Parameters
    ----------
    vector : numpy.ndarray
        The encoded contribution.
    params : RoundParams
        The round's parameters (vector length and modulus).

    Raises
    ------
    ConfigError
        If the dtype is not the modulus' unsigned integer type or the shape is not
        ``(params.vector_length,)``.
    """
    dtype = np.uint32 if params.modulus_bits == 32 else np.uint64
    if vector.dtype != dtype or vector.shape != (params.vector_length,):
        raise ConfigError(
            f"input must be {params.vector_length} values of {np.dtype(dtype)}, "
            f"got {vector.shape} of {vector.dtype}"
        )


def check_not_released(releases: ReleaseLedger, model_digest: bytes) -> None:
    """Refuse to take part in unmasking a second sum on the same model.

    Raises
    ------
    ProtocolViolation
        If ``releases`` already records ``model_digest``.
    """
    if releases.released(model_digest):
        raise ProtocolViolation(
            "this silo already helped unmask a sum on this model; it answers once per model"
        )


def open_round(
    message: m.BeginRound,
    *,
    silo_id: str,
    deployment_id: str,
    last_round: int,
    directory: Mapping[str, IdentityPublicKey],
    policy: ClientPolicy,
    releases: ReleaseLedger,
    model_digest: bytes,
    train_digest: bytes,
    pending_input: npt.NDArray[Any] | None,
    rng: RandomSource,
) -> ClientRound:
    """Judge a ``BeginRound`` and, if the silo takes part, draw the round's keys.

    Parameters
    ----------
    message : BeginRound
        The server's opening message.
    silo_id, deployment_id : str
        This silo and its deployment.
    last_round : int
        Highest round id this silo already took part in.
    directory : mapping of str to IdentityPublicKey
        Identity keys of every silo of the deployment.
    policy : ClientPolicy
        Security requirements the parameters must meet.
    releases : ReleaseLedger
        Models this silo already answered an unmask request on.
    model_digest, train_digest : bytes
        Digests of the model trained from and of the ``TrainRequest`` this silo was sent.
    pending_input : numpy.ndarray, optional
        The input, if it was already provided; it must fit the round.
    rng : RandomSource
        Source of the round's keys and self-mask seed.

    Returns
    -------
    ClientRound
        The new round, before any directory arrived.

    Raises
    ------
    ProtocolViolation
        If the round must be refused; nothing is drawn from ``rng`` then.
    """
    p = message.params
    if p.deployment_id != deployment_id:
        raise ProtocolViolation("round belongs to another deployment")
    if p.round_id <= last_round:
        raise ProtocolViolation(f"round {p.round_id} is not newer than {last_round}")
    if list(p.participants) != sorted(set(p.participants)):
        raise ProtocolViolation("participants must be sorted and unique")
    # Sorted and unique, so a participant's index (RoundParams.index_of) is its position + 1;
    # looked up in a dict, not by scanning the n participants each time.
    indices = {silo: i for i, silo in enumerate(p.participants, start=1)}
    if silo_id not in indices:
        raise ProtocolViolation("this silo is not a participant of the round")
    unknown = [silo for silo in p.participants if silo not in directory]
    if unknown:
        raise ProtocolViolation(
            f"the round lists {', '.join(unknown[:3])}, unknown to this silo's silo.toml: if "
            "silos were added, this silo.toml predates the last provisioning (redistribute it "
            "from silos/<name>/); otherwise the server is naming silos outside the deployment"
        )
    graph = policy.check(p, roster_size=len(directory))
    check_not_released(releases, model_digest)
    if pending_input is not None:
        try:
            check_vector(pending_input, p)
        except ConfigError as exc:
            raise ProtocolViolation(str(exc)) from None
    context = RoundContext(p.deployment_id, p.round_id)
    digest = round_digest(p, train_digest)
    # The layout is seeded by the round digest, fixed before any key exists. A silo needs the
    # neighbourhoods of its neighbours only: each is built when first asked for.
    closed = ClosedNeighbourhoods(graph, digest, p.participants)
    return ClientRound(
        params=p,
        context=context,
        index=indices[silo_id],
        c_key=AgreementKey.generate(rng),
        s_key=AgreementKey.generate(rng),
        seed=MaskSeed.generate(rng),
        graph=graph,
        digest=digest,
        closed_neighbourhoods=closed,
        indices=indices,
    )


def advertisement(r: ClientRound, *, silo_id: str, identity: IdentityKey) -> m.AdvertiseKeys:
    """The silo's signed ``AdvertiseKeys`` for round ``r`` (binds the round digest).

    Parameters
    ----------
    r : ClientRound
        The round just opened.
    silo_id : str
        This silo.
    identity : IdentityKey
        The silo's long-term signing key.

    Returns
    -------
    AdvertiseKeys
        The public ``c`` and ``s`` keys with the silo's signature over them.
    """
    c_pub, s_pub = r.c_key.public_bytes(), r.s_key.public_bytes()
    payload = advertise_payload(r.context, r.digest, silo_id, c_pub, s_pub)
    return m.AdvertiseKeys(*r.context.fields(), silo_id, c_pub, s_pub, identity.sign(payload))
