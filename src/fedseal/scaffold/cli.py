"""The ``fedseal new`` sub-command: start a silo-app project from a template.

Imports only the standard library at import time, so ``fedseal --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]

_TEMPLATES = ("torch", "sklearn")  # fedseal.scaffold.TEMPLATES, repeated for --help


def register(subparsers: Any) -> None:
    """Add ``new`` to the ``fedseal`` command."""
    p = subparsers.add_parser(
        "new", help="start a silo-app project (app.py, pyproject.toml, README.md) from a template"
    )
    p.add_argument("name", metavar="NAME", help="project folder and package name (my_silo_app)")
    p.add_argument(
        "--template", choices=_TEMPLATES, required=True,
        help="torch: PyTorch CNN with DP-SGD; sklearn: scikit-learn logistic regression",
    )  # fmt: skip
    p.add_argument("--dir", default=".", metavar="PARENT", help="where to create NAME/")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fedseal.scaffold import new_project

    folder = new_project(args.name, args.template, Path(args.dir))
    print(
        f"created {folder}/ (app.py, pyproject.toml, README.md)\n"
        f"  cd {folder}\n"
        "  fedseal simulate --app app:make_app --silos 5\n"
        "put your own data in load_partition() in app.py"
    )
    return 0
