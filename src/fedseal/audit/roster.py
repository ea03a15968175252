"""Co-signatures against a roster: who may co-sign, and how many must (``audit-format.md`` §11).

The roster is the deployment's silos and their Ed25519 identity keys (``[identities]`` of
``server.toml``). A ``checkpoint_cosigned`` entry by a key outside it is an integrity error: a
server can co-sign its own forked history under fresh keys. A checkpoint co-signed by fewer
distinct roster silos than the quorum is *under-witnessed*: reported, and an error under
``strict``. The default quorum is the deployment's Shamir threshold ``t`` for ``N`` silos.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fedseal.errors import ConfigError
from fedseal.secagg.graph import corrupt_count, full_parameters
from fedseal.secagg.identity import IdentityPublicKey

__all__ = ["default_quorum", "parse_roster", "under_witnessed"]


def default_quorum(roster_size: int, corruption: float = 0.05) -> int:
    """The deployment's threshold ``t = max((N + a) // 2, 2N // 3) + 1``, ``a = floor(cN)``.

    Parameters
    ----------
    roster_size
        ``N``, the number of silos in the roster.
    corruption
        The deployment's ``corruption`` fraction.

    Returns
    -------
    int
        ``t`` capped at ``N`` (``N`` itself when no threshold exists for so few silos).
    """
    if roster_size <= 0:
        return 0
    try:
        a = corrupt_count(roster_size, corruption)
        return min(roster_size, full_parameters(roster_size, corrupt=a).threshold)
    except ConfigError:
        return roster_size


def parse_roster(identities: object) -> tuple[dict[str, IdentityPublicKey], list[str]]:
    """Read an ``[identities]`` table (silo name -> 64 hex digits), skipping bad entries.

    Returns
    -------
    tuple
        ``(roster, warnings)``: one warning per entry that is not a valid key.
    """
    roster: dict[str, IdentityPublicKey] = {}
    warnings: list[str] = []
    if not isinstance(identities, Mapping):
        return roster, ["the roster ([identities]) is not a table"]
    for name, value in identities.items():
        try:
            roster[str(name)] = IdentityPublicKey(bytes.fromhex(str(value)))
        except (ValueError, ConfigError):
            warnings.append(f"roster entry {name!r} is not a 32-byte hex key: ignored")
    return roster, warnings


def under_witnessed(
    checkpoints: Collection[int],
    cosigners: Mapping[int, Collection[IdentityPublicKey]],
    quorum: int,
) -> list[tuple[int, int]]:
    """Checkpoints (by ``seq``) with fewer than ``quorum`` distinct roster co-signers.

    Returns
    -------
    list of (int, int)
        ``(checkpoint seq, number of roster co-signers)``, in ``seq`` order.
    """
    counts = ((seq, len(set(cosigners.get(seq, ())))) for seq in sorted(checkpoints))
    return [(seq, n) for seq, n in counts if n < quorum]
