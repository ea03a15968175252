"""``fedseal provision``: create a deployment folder (CA, certificates, identity keys, configs).

Imports only the standard library at import time; the handler imports the rest, so that
``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",")]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``provision`` command to the ``fedseal`` parser."""
    p = subparsers.add_parser(
        "provision",
        help="create a deployment: CA, TLS certificates, identity keys and TOML configs",
        description=(
            "Create a deployment folder with a deployment CA, the server's and each silo's "
            "TLS certificate and Ed25519 identity key, server/server.toml and "
            "silos/<name>/silo.toml. Run it again with new silo names to add silos: existing "
            "keys are never overwritten."
        ),
    )
    p.add_argument("--deployment", required=True, metavar="NAME", help="deployment id")
    p.add_argument(
        "--silos", required=True, type=_names, metavar="A,B,C", help="comma-separated silo names"
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="deployment folder")
    p.add_argument(
        "--host", help="host name or IP address the server listens on (default: 127.0.0.1)"
    )
    p.add_argument("--port", type=int, help="server port (default: 50051)")
    p.add_argument(
        "--force-new-deployment",
        action="store_true",
        help="move an existing deployment in DIR to DIR/replaced/<time>/ and create a new one",
    )
    p.add_argument(
        "--paillier",
        action="store_true",
        help=(
            "act as the trusted dealer of a threshold Paillier key: public key to server/ and "
            "every silo, one 0600 key share per silo folder; sets aggregation = 'paillier'"
        ),
    )
    p.add_argument(
        "--paillier-bits",
        type=int,
        choices=(2048, 3072),
        default=2048,
        help="Paillier modulus size (default 2048)",
    )
    p.add_argument(
        "--redeal-paillier",
        action="store_true",
        help=(
            "deal a new Paillier key for every silo (needed to add silos to a Paillier "
            "deployment; each site must then install its new share)"
        ),
    )
    p.set_defaults(handler=_provision)


def _provision(args: argparse.Namespace) -> int:
    from fedseal.deploy.provision import provision

    result = provision(
        deployment=args.deployment,
        silos=args.silos,
        out=args.out,
        host=args.host,
        port=args.port,
        force_new=args.force_new_deployment,
        paillier=args.paillier,
        paillier_bits=args.paillier_bits,
        redeal_paillier=args.redeal_paillier,
        notify=lambda line: print(line, flush=True),
    )
    print(result.summary())
    return 0
