"""The silos a simulation worker owns: their keys, sessions and ledgers, across stages and rounds.

A :class:`SiloHost` is the worker-side half of the executors of
:mod:`fedseal.simulation.executors`: it holds one slice of the deployment's silos, each with its
identity key, random source and release ledger for the deployment's whole life, and one
:class:`~fedseal.protocol.client.ClientSession` per silo for the current round. It knows
nothing of processes or Ray; :mod:`fedseal.simulation.worker` feeds it frames.

The identity keys are made *in the worker*: only their public halves leave it, so no secret is
ever sent between processes. With a ``seed`` every key and random source is derived from
``(seed, silo)`` (:func:`silo_random`, :func:`silo_identity`), so a seeded run is reproducible
whatever the executor and however the silos are spread over workers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy.typing as npt

from fedseal.errors import ProtocolViolation, RoundAbortedError
from fedseal.protocol import messages as m
from fedseal.protocol.client import ClientPolicy, ClientSession
from fedseal.protocol.release import MemoryReleaseLedger
from fedseal.secagg.hazmat.randomness import RandomSource, SeededRandomSource, SystemRandomSource
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["SiloHost", "policy_from_json", "policy_to_json", "silo_identity", "silo_random"]


def silo_random(seed: int | None, silo: str) -> RandomSource:
    """The random source of ``silo``: the system's CSPRNG, or derived from ``(seed, silo)``.

    Warnings
    --------
    With a seed, anyone who knows it knows every mask and share: simulations only.
    """
    if seed is None:
        return SystemRandomSource()
    return SeededRandomSource(f"{seed}:{silo}".encode())


def silo_identity(seed: int | None, silo: str) -> IdentityKey:
    """The identity key of ``silo``: fresh, or derived from ``(seed, silo)`` (simulations only)."""
    if seed is None:
        return IdentityKey.generate()
    return IdentityKey(
        hashlib.sha256(f"fedseal simulated identity:{seed}:{silo}".encode()).digest()
    )


def policy_to_json(policy: ClientPolicy) -> dict[str, Any]:
    """``policy`` as plain JSON values (for a frame header)."""
    return asdict(policy)


def policy_from_json(values: Mapping[str, Any]) -> ClientPolicy:
    """The :class:`ClientPolicy` written by :func:`policy_to_json` (validated again)."""
    fields = dict(values)
    fields["allowed_modulus_bits"] = tuple(int(b) for b in fields["allowed_modulus_bits"])
    return ClientPolicy(**fields)


class SiloHost:
    """A slice of the silos of a simulated deployment, kept alive across rounds.

    Parameters
    ----------
    deployment_id : str
        Bound into every key and signature.
    silos : sequence of str
        The silos this host owns.
    policy : ClientPolicy
        Every silo's security policy.
    seed : int, optional
        Derive keys and randomness from ``(seed, silo)``; ``None``: the system's CSPRNG.
    """

    def __init__(
        self,
        deployment_id: str,
        silos: Sequence[str],
        *,
        policy: ClientPolicy,
        seed: int | None,
    ) -> None:
        self.deployment_id = deployment_id
        self.silos = sorted(silos)
        self.policy = policy
        self._identity = {s: silo_identity(seed, s) for s in self.silos}
        # One source and one ledger per silo for the deployment's whole life.
        self._rngs = {s: silo_random(seed, s) for s in self.silos}
        self._releases = {s: MemoryReleaseLedger() for s in self.silos}
        self._directory: dict[str, IdentityPublicKey] = {}
        self._sessions: dict[str, ClientSession] = {}
        self._last_round = -1
        self._highest_round = -1

    def public_keys(self) -> dict[str, bytes]:
        """The public identity key of each silo of this host."""
        return {s: k.public_key.to_bytes() for s, k in self._identity.items()}

    def set_directory(self, keys: Mapping[str, bytes]) -> None:
        """Learn every silo's public identity key (the deployment's directory)."""
        self._directory = {s: IdentityPublicKey(bytes(k)) for s, k in keys.items()}

    def begin(
        self,
        participants: Sequence[str],
        train_digest: bytes,
        inputs: Mapping[str, npt.NDArray[Any]],
    ) -> None:
        """Open a session for each of this host's silos among ``participants``.

        ``inputs[silo]`` is only read, until the silo sent its masked input.
        """
        self._last_round = self._highest_round
        self._sessions = {}
        for silo in sorted(set(participants) & set(self.silos)):
            session = ClientSession(
                silo_id=silo,
                deployment_id=self.deployment_id,
                identity_key=self._identity[silo],
                directory=self._directory,
                rng=self._rngs[silo],
                policy=self.policy,
                last_round=self._last_round,
                train_digest=train_digest,
                releases=self._releases[silo],
            )
            if silo in inputs:
                session.provide_input(inputs[silo])
            self._sessions[silo] = session

    def step(self, silo: str, message: m.Message) -> tuple[list[m.Message], float, str | None]:
        """Hand ``message`` to ``silo``'s session.

        Returns
        -------
        answers : list of Message
            What the silo sends back (an :class:`AbortRound` if its session refused).
        seconds : float
            The silo's time on this step.
        error : str or None
            Why the session refused, if it did.
        """
        start = time.perf_counter()
        if isinstance(message, m.BeginRound):
            self._highest_round = max(self._highest_round, message.params.round_id)
        error = None
        try:
            answers = self._sessions[silo].receive(message)
        except (ProtocolViolation, RoundAbortedError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            deployment, round_id = _round_of(message)
            answers = [m.AbortRound(deployment, round_id, "client refused")]
        return answers, time.perf_counter() - start, error

    def end(self) -> None:
        """Forget the round's sessions (and with them the inputs they referenced)."""
        self._sessions = {}


def _round_of(message: m.Message) -> tuple[str, int]:
    if isinstance(message, m.BeginRound):
        return message.params.deployment_id, message.params.round_id
    return message.deployment_id, message.round_id
