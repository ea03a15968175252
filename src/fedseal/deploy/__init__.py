"""Deployment tooling: ``fedseal provision`` creates (or extends) a deployment folder.

A deployment CA, the server's and each silo's mutual-TLS certificate (RFC 5280) and Ed25519
identity key (RFC 8032), and their configs (the schema of ``server.toml`` and ``silo.toml`` is
:mod:`fedseal.config`).

=====================================  ========================================================
:mod:`fedseal.deploy.provision`        :func:`~fedseal.deploy.provision.provision`: create a
                                       deployment, or add silos (or a Paillier key) to one, as
                                       plan -> validate -> apply
:mod:`fedseal.deploy.layout`           the folder layout, the manifest and the config documents
:mod:`fedseal.deploy.pki`              the deployment CA and its certificates
:mod:`fedseal.deploy.keyfile`          reading and writing identity keys and TLS files
:mod:`fedseal.deploy.paillier_keys`    the threshold Paillier key files
:mod:`fedseal.deploy.files`            careful file writing, and a small TOML writer
:mod:`fedseal.deploy.cli`              the ``fedseal provision`` command
=====================================  ========================================================

Examples
--------
>>> from fedseal.config import load_silo_config
>>> from fedseal.deploy.keyfile import load_identity_key
>>> from fedseal.deploy.provision import provision
>>> result = provision(deployment="demo", silos=["a", "b", "c"], out=folder)  # doctest: +SKIP
>>> config = load_silo_config(result.silo_configs["a"])                       # doctest: +SKIP
>>> identity = load_identity_key(config.identity_key)                         # doctest: +SKIP
"""
