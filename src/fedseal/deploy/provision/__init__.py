"""``fedseal provision``: create a deployment folder, or add silos to an existing one.

Layout of the folder (``*`` marks private keys, mode 0600, in directories of mode 0700)::

    deployment.toml              what was provisioned (id, server host and port); marks the folder
    ca/ca.crt  ca/ca.key*        the deployment CA: keep ca/ with the operator, offline
    server/server.toml           the server's config; copy server/ to the server machine
    server/ca.crt server/server.crt server/server.key* server/identity.key*
    server/audit.jsonl           the server's audit log, starting with the provisioning events
    server/state/
    silos/<name>/silo.toml       one folder per silo; copy it to that site
    silos/<name>/ca.crt silo.crt silo.key* identity.key*  silos/<name>/state/
    server/paillier-public.json  with --paillier: the threshold Paillier public key (and in every
    silos/<name>/paillier-public.json paillier-share.key*  silo folder, with that silo's share)

Certificates follow the profile in :mod:`fedseal.deploy.pki` (RFC 5280); identity keys are
Ed25519 (RFC 8032) in PKCS#8 PEM.

Every run is one flow, ``apply(validate(plan_create(request)))`` or the same with
:func:`~fedseal.deploy.provision.extend.plan_extend`:

=========================================  =======================================================
:mod:`~fedseal.deploy.provision.request`   what was asked for, and its checks
:mod:`~fedseal.deploy.provision.plan`      the :class:`~fedseal.deploy.provision.plan.Plan`: every
                                           key to issue, file to write, config to (re)write and
                                           audit entry; no secret
:mod:`~fedseal.deploy.provision.create`    :func:`plan_create`: a new deployment
:mod:`~fedseal.deploy.provision.extend`    :func:`plan_extend`: new silos (or a Paillier key) for
                                           an existing one; ``extend``
:mod:`~fedseal.deploy.provision.checks`    :func:`validate`: every refusal, before anything is
                                           written
:mod:`~fedseal.deploy.provision.writing`   :func:`apply`: generating the keys and writing, in an
                                           order that survives an interruption
:mod:`~fedseal.deploy.provision.material`  the generated keys, while ``apply`` writes them
:mod:`~fedseal.deploy.provision.result`    :class:`ProvisionResult`
=========================================  =======================================================

Theory of operation:

* Every existing file is read while planning and every check runs in ``validate``, before
  anything is written: a refused run leaves the folder byte for byte as it was.
* Keys and certificates are created with ``O_EXCL``: a re-run never overwrites one. Configs
  are replaced atomically. ``deployment.toml`` is written last on creation, so a crash leaves a
  folder that the next run refuses as partial rather than silently completes.
* The round policy (``corruption``, ``dropout``, ``min_participants``, ``full_graph_max``) is
  written explicitly and alike into ``server.toml`` and every ``silo.toml``;
  ``min_participants`` is :func:`~fedseal.protocol.policy.default_min_participants` of the
  number of silos, ``max(3, ceil(N / 2), floor(corruption * N) + 2)`` capped at ``N``.
* Re-running with new silo names reuses the CA, issues the new silos, and rewrites the
  ``silos`` list and ``[identities]`` table of ``server.toml`` and the ``[identities]`` table
  of every local ``silo.toml`` (other settings are kept; comments are regenerated). The roster
  grew, so a ``min_participants`` at the old roster's default becomes the new default
  everywhere; a value the operator chose is kept and named in the notes. A silo whose folder is
  not here must be updated at its site. Existing silos' keys and certificates are left
  untouched (:mod:`fedseal.deploy.provision.extend`).
* ``force_new`` moves an existing deployment to ``replaced/<UTC time>/`` instead of refusing.
* ``paillier`` makes this machine the trusted dealer of a threshold Paillier key
  (:mod:`fedseal.deploy.paillier_keys`): ``paillier-public.json`` goes to ``server/`` and every
  ``silos/<name>/``, each silo's ``paillier-share.key`` (0600) to its own folder only, and
  ``server.toml`` switches to ``aggregation = "paillier"``. The key is dealt for a fixed set of
  silos, so adding silos to a Paillier deployment is refused unless ``redeal_paillier`` deals a
  new key for all of them (new, versioned file names; the old files are left for the operator
  to destroy). The key is generated before any file is written.
* The server's audit log records each certificate issued, each change of the silo list and
  each Paillier key dealt (names, fingerprints and key ids only, never key material).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from fedseal.deploy.layout import MANIFEST
from fedseal.deploy.provision.checks import validate
from fedseal.deploy.provision.create import plan_create
from fedseal.deploy.provision.extend import plan_extend
from fedseal.deploy.provision.plan import Plan, ValidPlan
from fedseal.deploy.provision.request import PaillierRequest, Request
from fedseal.deploy.provision.result import ProvisionResult
from fedseal.deploy.provision.writing import apply

__all__ = [
    "MANIFEST",
    "Plan",
    "ProvisionResult",
    "Request",
    "ValidPlan",
    "apply",
    "plan_create",
    "plan_extend",
    "provision",
    "validate",
]


def provision(
    *,
    deployment: str,
    silos: Sequence[str],
    out: str | os.PathLike[str],
    host: str | None = None,
    port: int | None = None,
    force_new: bool = False,
    paillier: bool = False,
    paillier_bits: int = 2048,
    paillier_allow_insecure_bits: bool = False,
    redeal_paillier: bool = False,
    notify: Callable[[str], None] | None = None,
) -> ProvisionResult:
    """Create a deployment in ``out``, or add the silos it does not have yet.

    Parameters
    ----------
    deployment
        The deployment id (``[A-Za-z0-9][A-Za-z0-9._-]{0,62}``). An existing folder must hold
        the same one.
    silos
        Silo names (``[a-z0-9][a-z0-9._-]{0,62}``), unique; a new deployment needs at least 2.
        Names already provisioned are reported and left untouched.
    out
        The deployment folder (created if missing).
    host, port
        Where the server listens; default ``127.0.0.1`` and ``50051`` for a new deployment.
        Adding silos keeps the existing address; a different one is an error (the server
        certificate names it).
    force_new
        Move an existing (or partial) deployment in ``out`` to ``out/replaced/<time>/`` and
        create a new one.
    paillier
        Deal a threshold Paillier key (``t = full_parameters(n).threshold``) for the
        deployment's silos and set ``aggregation = "paillier"``. On an existing deployment that
        already has one, nothing is re-dealt.
    paillier_bits
        Modulus size, 2048 (default) or 3072.
    paillier_allow_insecure_bits
        Accept any even size >= 256 bits: for tests only.
    redeal_paillier
        Deal a new key for every silo of the deployment (needed to add silos to a Paillier
        deployment). Every silo's folder must be in ``out``; the new files get versioned names.
    notify
        Called with a one-line message before a key is generated (it can take minutes).

    Returns
    -------
    ProvisionResult

    Raises
    ------
    ConfigError
        Naming the bad value: an invalid or duplicate name, fewer than 2 silos, another
        deployment (or a partial one) in ``out``, an existing file that would be overwritten,
        an unreadable existing config or key, a Paillier key size other than 2048 or 3072, or
        silos added to a Paillier deployment without ``redeal_paillier``. Nothing is written
        then.

    Warnings
    --------
    ``ca/ca.key`` can issue certificates that the server accepts as any silo: keep it offline.
    Keys are stored unencrypted (protected by file permissions only). With ``paillier`` this
    process is the trusted dealer: it sees every key share while it runs (and forgets them).
    """
    request = Request(
        root=Path(out),
        deployment=deployment,
        silos=silos if isinstance(silos, str) else tuple(silos),
        host=host,
        port=port,
        force_new=force_new,
        paillier=PaillierRequest(
            deal=paillier or redeal_paillier,
            bits=paillier_bits,
            allow_insecure=paillier_allow_insecure_bits,
            redeal=redeal_paillier,
            notify=notify,
        ),
    )
    if not force_new and (request.root / MANIFEST).exists():
        return apply(validate(plan_extend(request)))
    return apply(validate(plan_create(request)))
