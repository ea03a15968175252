"""``fedseal model list | export``: the server's per-round models, for use outside fedseal.

The coordinator keeps the model of each of its newest completed rounds in
``<state_dir>/models/round-NNNNNN.npy`` (:class:`~fedseal.server.state.ServerState`, where NNNNNN
counts completed rounds) beside the current ``model.npy``. ``list`` shows them; ``export``
writes one (default: the newest) as ``.npy`` (the flat vector) or ``.npz`` (``weights`` and
``round``), never with pickling. Reshaping into an app's layers is the app's own business (for
torch: ``fedseal.torch.load(module, layout.unflatten(weights))``). Imports only the standard
library at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``model`` to the ``fedseal`` command."""
    p = subparsers.add_parser("model", help="list or export the server's per-round models")
    sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="the kept per-round models")
    listing.add_argument("--state", required=True, type=Path, help="the server's state_dir")
    listing.set_defaults(handler=_list)
    export = sub.add_parser("export", help="write one round's model as .npy or .npz")
    export.add_argument("--state", required=True, type=Path, help="the server's state_dir")
    export.add_argument("--round", type=int, help="completed-round count (default: newest)")
    export.add_argument("--out", required=True, type=Path, help="FILE.npy or FILE.npz")
    export.set_defaults(handler=_export)


def _checkpoints(state: Path) -> dict[int, Path]:
    from fedseal.errors import ConfigError
    from fedseal.server.state import MODELS

    folder = state / MODELS
    if not folder.is_dir():
        raise ConfigError(f"no per-round models in {state} (is it the server's state_dir?)")
    found = {}
    for path in sorted(folder.glob("round-*.npy")):
        number = path.stem.removeprefix("round-")
        if number.isdigit():
            found[int(number)] = path
    return found


def _list(args: argparse.Namespace) -> int:
    for number, path in _checkpoints(args.state).items():
        print(f"{number:>6}  {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import numpy as np

    from fedseal.errors import ConfigError

    found = _checkpoints(args.state)
    if not found:
        raise ConfigError(f"no per-round models in {args.state}")
    number = max(found) if args.round is None else args.round
    if number not in found:
        raise ConfigError(f"no kept model of round {number}; kept: {sorted(found)}")
    try:
        weights = np.load(found[number], allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"{found[number]} is not a model file: {exc}") from None
    if args.out.suffix == ".npz":
        np.savez(args.out, weights=weights, round=np.array(number))
    elif args.out.suffix == ".npy":
        np.save(args.out, weights, allow_pickle=False)
    else:
        raise ConfigError(f"--out must end in .npy or .npz, got {args.out.name}")
    print(f"round {number}: {weights.size} parameters -> {args.out}")
    return 0
