"""The keys a plan names, while ``apply`` writes them: :class:`Material`.

:meth:`Material.make` generates every key and certificate of ``plan.issue`` (an extend loads
the existing CA to sign with, and the server's identity key for its audit log) and deals the
plan's Paillier key. :meth:`Material.value` gives the bytes or value a
:class:`~fedseal.deploy.provision.plan.Ref` names; :meth:`Material.public` keeps only the
public values, so that the secrets can be dropped once the files are written.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fedseal.deploy import pki
from fedseal.deploy.keyfile import identity_key_pem, load_identity_key
from fedseal.deploy.paillier_deal import DealtKey, deal_deployment_key
from fedseal.deploy.paillier_keys import public_file_bytes, share_file_bytes
from fedseal.deploy.provision.plan import Plan, Ref
from fedseal.errors import ConfigError
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey

__all__ = ["Material", "identity_fingerprint"]

_T = TypeVar("_T")


def identity_fingerprint(public_hex: str) -> str:
    """The fingerprint of an Ed25519 public key given in hex."""
    return IdentityPublicKey(bytes.fromhex(public_hex)).fingerprint()


def _quietly(load: Callable[..., _T], *args: object) -> _T:
    """Load a key file again: planning or validation already warned about its mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(*args)


@dataclass(eq=False, kw_only=True)
class Material:
    """Generated (and loaded) keys: secret; live only while ``apply`` writes them.

    Attributes
    ----------
    ca_pem, ca_fingerprint
        The CA certificate as the parties' ``ca.crt`` get it, and its fingerprint.
    ca
        The CA with its key, when the plan issues certificates or deals a key.
    tls, identities
        TLS pairs and identity keys by holder (``"server"`` or a silo); an extend that
        writes anything has the server's loaded identity key, for its audit log.
    dealt
        The dealt Paillier key with every share, or None.
    """

    ca_pem: bytes
    ca_fingerprint: str
    ca: pki.KeyPair | None = field(default=None, repr=False)
    tls: dict[str, pki.KeyPair] = field(default_factory=dict, repr=False)
    identities: dict[str, IdentityKey] = field(default_factory=dict, repr=False)
    dealt: DealtKey | None = field(default=None, repr=False)

    @classmethod
    def make(cls, plan: Plan) -> Material:
        """Generate what ``plan`` issues and deals (the Paillier key last: it is the slow step).

        Raises
        ------
        ConfigError
            If the CA or the server's identity key cannot be loaded, or the server's key is
            no longer the one the plan was made with.
        """
        deployment, outcome = plan.request.deployment, plan.outcome
        if plan.found is None:
            ca = pki.create_ca(deployment, now=plan.now)
            material = cls(ca_pem=ca.cert_pem(), ca_fingerprint=ca.fingerprint, ca=ca)
        elif plan.issue or plan.deal is not None:
            ca = _quietly(pki.load_ca, outcome.ca_cert, outcome.ca_cert.with_name("ca.key"))
            ca_pem = outcome.ca_cert.read_bytes()
            material = cls(ca_pem=ca_pem, ca_fingerprint=ca.fingerprint, ca=ca)
        else:
            return cls(ca_pem=b"", ca_fingerprint=pki.read_fingerprint(outcome.ca_cert))
        for issue in plan.issue:
            if issue.kind == "tls":
                material.tls[issue.holder] = _issue_tls(ca, plan, issue.holder)
            elif issue.kind == "identity":
                material.identities[issue.holder] = IdentityKey.generate()
        if plan.found is not None:
            server_key = _quietly(load_identity_key, outcome.server_key)
            if server_key.public_key.to_bytes().hex() != outcome.server_identity:
                raise ConfigError(f"{outcome.server_key} changed while provisioning: run again")
            material.identities["server"] = server_key
        deal = plan.deal
        if deal is not None:
            material.dealt = deal_deployment_key(
                deployment=deployment,
                silos=deal.holders,
                key_bits=deal.bits,
                allow_insecure=deal.allow_insecure,
                notify=deal.notify,
                versioned_names=deal.versioned,
            )
        return material

    def bytes_of(self, ref: Ref) -> bytes:
        """The content of a new file."""
        value = self.value(ref)
        if not isinstance(value, bytes):
            raise TypeError(f"{ref} names a value, not a file's content")
        return value

    def value(self, ref: Ref) -> bytes | str | int:
        """The bytes or value ``ref`` names.

        Raises
        ------
        KeyError
            If the plan did not issue (or deal) it.
        """
        holder = ref.holder
        match ref.what:
            case "ca.crt":
                return self.ca_pem
            case "ca.key" if self.ca is not None:
                return self.ca.key_pem()
            case "cert-fingerprint":
                return self.ca_fingerprint if holder == "ca" else self.tls[holder].fingerprint
            case "tls.crt":
                return self.tls[holder].cert_pem()
            case "tls.key":
                return self.tls[holder].key_pem()
            case "identity.key":
                return identity_key_pem(self.identities[holder])
            case "identity":
                return self.identities[holder].public_key.to_bytes().hex()
            case "identity-fingerprint":
                return self.identities[holder].public_key.fingerprint()
        if self.dealt is None:
            raise KeyError(ref)
        dealt, public = self.dealt, self.dealt.key.public_key
        match ref.what:
            case "paillier-public":
                return public_file_bytes(dealt.key)
            case "paillier-share":
                return share_file_bytes(dealt.shares[holder])
            case "paillier-public-name":
                return dealt.public_name
            case "paillier-share-name":
                return dealt.share_name
            case "paillier-key-id":
                return dealt.key_id
            case "paillier-key-bits":
                return public.key_bits
            case "paillier-threshold":
                return public.threshold
        raise KeyError(ref)

    def public(self) -> dict[Ref, object]:
        """Every public value a config, an audit entry or the result may name, by its ref."""
        refs = [Ref("cert-fingerprint", "ca")]
        refs += [Ref("cert-fingerprint", holder) for holder in self.tls]
        for holder in self.identities:
            refs += [Ref("identity", holder), Ref("identity-fingerprint", holder)]
        if self.dealt is not None:
            refs += [Ref("paillier-public-name"), Ref("paillier-share-name")]
            refs += [Ref("paillier-key-id"), Ref("paillier-key-bits"), Ref("paillier-threshold")]
        return {ref: self.value(ref) for ref in refs}


def _issue_tls(ca: pki.KeyPair, plan: Plan, holder: str) -> pki.KeyPair:
    deployment = plan.request.deployment
    if holder == "server":
        return pki.issue_server(ca, deployment=deployment, host=plan.host, now=plan.now)
    return pki.issue_silo(ca, deployment=deployment, silo=holder, now=plan.now)
