"""PyTorch adapter: an ``nn.Module`` as the list of arrays a silo app exchanges with fedseal.

A silo app may hand fedseal its model as a list of numpy arrays, one per entry of the module's
``state_dict`` (:mod:`fedseal.client.arrays`); these two functions convert, in the same order as
:meth:`fedseal.dp.PrivateTrainer.get_weights`, so a DP app can pass the arrays it is given
straight to :meth:`~fedseal.dp.PrivateTrainer.fit` and return what that returns::

    def fit(self, weights, config):
        return self.trainer.fit(weights, config["round"], config)   # DP-SGD, one call

and a non-DP app loads them, trains its own way, and returns :func:`arrays` of the module.
An app that also has ``layer_names()`` returning :func:`names` lets the server export the model
as a ``state_dict`` (``fedseal model export --format torch``), which :func:`load_file` reads.
Every ``state_dict`` entry travels, buffers included, as float64 (an integer buffer such as
BatchNorm's ``num_batches_tracked`` would be averaged; Opacus does not support BatchNorm).
Needs the ``dp`` extra (torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.extras import require

__all__ = ["arrays", "load", "load_file", "names"]


def arrays(module: Any) -> list[npt.NDArray[np.float64]]:
    """The module's ``state_dict`` values as float64 numpy arrays (copies), in order.

    Parameters
    ----------
    module : torch.nn.Module
    """
    require("dp", "torch")
    return [t.detach().cpu().numpy().astype(np.float64) for t in module.state_dict().values()]


def load(module: Any, weights: Sequence[npt.ArrayLike]) -> None:
    """Copy ``weights`` (as :func:`arrays` returns them) into ``module``, checking shapes.

    Parameters
    ----------
    module : torch.nn.Module
    weights : sequence of array_like

    Raises
    ------
    ValueError
        If the count or a shape differs from the module's ``state_dict``.
    """
    require("dp", "torch")
    import torch

    state = module.state_dict()
    if len(weights) != len(state):
        raise ValueError(f"expected {len(state)} arrays for this module, got {len(weights)}")
    new = {}
    for (name, old), value in zip(state.items(), weights, strict=True):
        a = np.asarray(value)
        if a.shape != tuple(old.shape):
            raise ValueError(f"{name}: shape {a.shape}, the module has {tuple(old.shape)}")
        new[name] = torch.as_tensor(a, dtype=old.dtype)
    module.load_state_dict(new)


def names(module: Any) -> list[str]:
    """The module's ``state_dict`` keys, in the order of :func:`arrays` (for ``layer_names()``).

    Parameters
    ----------
    module : torch.nn.Module
    """
    require("dp", "torch")
    return list(module.state_dict())


def load_file(path: str | Path) -> dict[str, Any]:
    """A ``state_dict`` (name -> float tensor) from ``fedseal model export --format torch``.

    Reads the safetensors file with :func:`fedseal.model_file.read` (no pickle, no extra
    package); pass the result to ``module.load_state_dict``.

    Raises
    ------
    ConfigError
        If the file is not a well-formed safetensors file of float arrays.
    """
    require("dp", "torch")
    import torch

    from fedseal import model_file

    arrays, _ = model_file.read(Path(path))
    return {name: torch.from_numpy(a) for name, a in arrays.items()}
