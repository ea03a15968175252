"""What ``fedseal provision`` did: :class:`ProvisionResult`, and its human-readable summary.

:func:`~fedseal.deploy.provision.writing.apply` returns it; it holds paths and public fingerprints
only, never key material.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProvisionResult"]


@dataclass(frozen=True, kw_only=True)
class ProvisionResult:
    """What :func:`~fedseal.deploy.provision.provision` did.

    Attributes
    ----------
    deployment_id, directory
        The deployment and its folder.
    created
        True if this run created the deployment (and its CA).
    replaced
        Where ``force_new`` moved a previous deployment, or None.
    ca_cert, ca_fingerprint
        The CA certificate and the SHA-256 of its DER encoding (hex).
    server_config, server_fingerprint
        ``server.toml`` and the server's identity-key fingerprint.
    silo_configs, fingerprints
        Every silo of the deployment -> its ``silo.toml`` / identity-key fingerprint.
    added, existing
        Requested silos created by this run / already present and left untouched.
    not_updated
        Earlier silos whose ``silo.toml`` is no longer in the folder, so its
        ``[identities]`` table could not be updated: update it at the site.
    notes
        Settings provisioning chose for the operator (for example a 64-bit modulus).
    paillier_key_id
        Id (hex) of the threshold Paillier key this run dealt, or None.
    audit_log
        The server's audit log that recorded the provisioning.
    """

    deployment_id: str
    directory: Path
    created: bool
    replaced: Path | None = None
    ca_cert: Path
    ca_fingerprint: str
    server_config: Path
    server_fingerprint: str
    silo_configs: Mapping[str, Path] = field(hash=False)
    fingerprints: Mapping[str, str] = field(hash=False)
    added: tuple[str, ...]
    existing: tuple[str, ...]
    not_updated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    paillier_key_id: str | None = None
    audit_log: Path

    def summary(self) -> str:
        """A short human-readable account (public fingerprints only)."""
        rel = self._relative
        verb = "created" if self.created else "updated" if self.added else "unchanged"
        lines = [f"deployment {self.deployment_id!r} in {self.directory}: {verb}"]
        if self.replaced is not None:
            lines.append(f"  previous deployment moved to {self.replaced}")
        lines.append(f"  CA      {rel(self.ca_cert)}  sha256 {self.ca_fingerprint}")
        lines.append(f"  server  {rel(self.server_config)}  identity {self.server_fingerprint}")
        for silo, path in self.silo_configs.items():
            if silo in self.added:
                status = "new"
            elif silo in self.not_updated:
                status = (
                    "silo.toml not in this folder: add the new silos to its [identities] and "
                    "match its min_participants to server.toml"
                )
            else:
                status = "already provisioned" if silo in self.existing else "earlier"
                status += ", keys untouched" + ("; [identities] updated" if self.added else "")
            lines.append(f"  silo    {rel(path)}  identity {self.fingerprints[silo]}  ({status})")
        if self.paillier_key_id is not None:
            lines.append(
                f"  paillier key {self.paillier_key_id[:16]} dealt: public key in server/ and "
                "every silo folder; each silos/<name>/paillier-share*.key goes to that site "
                "only: delete your copies once delivered"
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append(
            "Private keys are mode 0600. Keep ca/ offline; copy server/ to the server and "
            "silos/<name>/ to each site."
        )
        return "\n".join(lines)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.directory))
        except ValueError:
            return str(path)
