"""``fedseal model list | export``: the server's per-round models, for use outside fedseal.

The coordinator keeps the model of each of its newest completed rounds in
``<state_dir>/models/round-NNNNNN.npy`` (:class:`~fedseal.server.state.ServerState`, where NNNNNN
counts completed rounds) beside the current ``model.npy``. ``list`` shows them; ``export``
writes one (default: the newest), never with pickling, as

* ``npy``: the flat vector; ``npz``: ``weights`` (flat) and ``round``;
* ``torch``: a safetensors file (:mod:`fedseal.model_file`) of named, shaped arrays, from the
  layout the silos' apps declared when they connected (``<state_dir>/layout.json``,
  :mod:`fedseal.server.admission`); load it with ``module.load_state_dict(
  fedseal.torch.load_file(path))``. The apps must name their arrays (``layer_names()``,
  ``fedseal.torch.names``).

Imports only the standard library at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "register"]

#: Export formats, and the suffix each is guessed from.
FORMATS = ("npy", "npz", "torch")
_SUFFIXES = {".npy": "npy", ".npz": "npz", ".safetensors": "torch"}


def register(subparsers: Any) -> None:
    """Add ``model`` to the ``fedseal`` command."""
    p = subparsers.add_parser("model", help="list or export the server's per-round models")
    sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="the kept per-round models")
    listing.add_argument("--state", required=True, type=Path, help="the server's state_dir")
    listing.set_defaults(handler=_list)
    export = sub.add_parser(
        "export", help="write one round's model as .npy, .npz or a torch state_dict"
    )
    export.add_argument("--state", required=True, type=Path, help="the server's state_dir")
    export.add_argument("--round", type=int, help="completed-round count (default: newest)")
    export.add_argument("--out", required=True, type=Path, help="the file to write")
    export.add_argument(
        "--format", choices=FORMATS, default=None,
        help="npy | npz | torch (safetensors); default: from --out's suffix",
    )  # fmt: skip
    export.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32",
        help="how --format torch stores the values (default float32, as torch parameters)",
    )  # fmt: skip
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
    form = args.format or _SUFFIXES.get(args.out.suffix)
    if form is None:
        raise ConfigError(f"say --format {'|'.join(FORMATS)}: cannot tell it from {args.out.name}")
    if form == "npz":
        np.savez(args.out, weights=weights, round=np.array(number))
    elif form == "npy":
        np.save(args.out, weights, allow_pickle=False)
    else:
        _export_torch(args, weights, number)
    print(f"round {number}: {weights.size} parameters -> {args.out}")
    return 0


def _export_torch(args: argparse.Namespace, weights: Any, number: int) -> None:
    from fedseal import model_file
    from fedseal.client.arrays import Layout
    from fedseal.errors import ConfigError
    from fedseal.server.admission import LAYOUT_FILE, read_layout

    layout = read_layout(args.state)
    if layout is None:
        raise ConfigError(
            f"no {LAYOUT_FILE} in {args.state}: no silo has declared its app's layout to this "
            "server yet (silos do on connect); use --format npz"
        )
    if layout.get("disputed_by"):
        raise ConfigError(
            f"the silos declared different layouts ({', '.join(layout['disputed_by'])} against "
            f"{', '.join(layout.get('declared_by', []))}): the names and order of the arrays "
            "are not agreed, so no state_dict is written; use --format npz"
        )
    names = [str(a.get("name", "")) for a in layout["arrays"]]
    shapes = [tuple(int(d) for d in a.get("shape", ())) for a in layout["arrays"]]
    if not all(names) or len(set(names)) != len(names):
        raise ConfigError(
            "the silos' apps did not name their arrays (distinctly), so there is no state_dict "
            "to write: give the app a layer_names() method (for torch: return "
            "fedseal.torch.names(self.model)), or use --format npz"
        )
    arrays_layout = Layout(tuple(shapes))
    if arrays_layout.size != weights.size:
        raise ConfigError(
            f"the declared layout has {layout.get('values')} values, round {number}'s model "
            f"{weights.size}: the apps changed since; use --format npz"
        )
    arrays = dict(zip(names, arrays_layout.unflatten(weights), strict=True))
    dtype = {"float32": "F32", "float64": "F64"}[args.dtype]
    model_file.write(args.out, arrays, dtype=dtype, metadata={"round": str(number)})
