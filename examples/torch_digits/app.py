"""A fedseal silo app in PyTorch: a small CNN on scikit-learn's 8x8 handwritten digits.

Each silo takes a non-IID share of the training data (sorted by label, dealt in contiguous
blocks, so a silo sees only two or three of the ten digits); 20 % of the data is a held-out test
set shared by nobody but :func:`test_accuracy`. With DP settings (``fedseal simulate --dp``, or a
provisioned silo with a ``[dp]`` section) the silo trains with DP-SGD through
:class:`fedseal.dp.PrivateTrainer`, whose privacy ledger lives in the silo's state directory;
without, it runs plain mini-batch SGD. The model travels as a list of arrays, one per
``state_dict`` entry (:mod:`fedseal.torch`), named by ``layer_names()`` so that the server can
check its model before round 1 and export it as a ``state_dict`` (``fedseal model export
--format torch``).

Run from this folder::

    fedseal simulate --app app:make_app --silos 5 --rounds 60 --out run
    fedseal simulate --app app:make_app --silos 5 --rounds 60 --dp --out run-dp
    fedseal client --config silo.toml --app app:make_app
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

import fedseal.torch
from fedseal.client.app import SiloContext
from fedseal.client.arrays import layout_of

Array = npt.NDArray[Any]
SEED = 0
CHANNELS = 16
BATCH = 32
LR = 0.3


def build_model() -> nn.Module:
    """A small CNN: 8x8 image -> two 3x3 conv layers with 2x2 max-pooling -> 10 digit logits.

    No BatchNorm, so Opacus can train it with per-sample gradients (DP-SGD).
    """
    torch.manual_seed(SEED)  # every silo starts from the same weights
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, CHANNELS, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 4x4
        nn.Conv2d(CHANNELS, 2 * CHANNELS, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 2x2
        nn.Flatten(),
        nn.Linear(2 * CHANNELS * 4, 10),
    )


def _split() -> tuple[Array, Array, Array, Array]:
    """The digits, pixels scaled to [0, 1], with a stratified 20 % held-out test set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=SEED
    )
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def load_partition(context: SiloContext) -> tuple[Array, Array]:
    """This silo's training examples ``(x, y)``: the place to plug in a site's own data.

    In simulation ``context.settings`` carries ``silo_index`` and ``silos``. A deployed silo
    (``fedseal client``) gets no settings, so it would train on the whole training split:
    replace the body with code that reads the site's own records.
    """
    x, y, _, _ = _split()
    index = int(context.settings.get("silo_index", 0))
    silos = int(context.settings.get("silos", 1))
    order = np.argsort(y, kind="stable")  # non-IID: contiguous blocks of sorted labels
    part = np.array_split(order, silos)[index]
    return x[part], y[part]


def load_test() -> tuple[Array, Array]:
    """The held-out test set ``(x, y)``, shared by all silos' figures, never trained on."""
    _, _, x, y = _split()
    return x, y


class DigitsApp:
    """One silo's training code (see the module docstring)."""

    def __init__(self, context: SiloContext) -> None:
        torch.set_num_threads(1)
        self.x, self.y = load_partition(context)
        self.dp = context.dp
        self.model = build_model()
        self._trainer: Any = None
        if context.dp is not None:
            from fedseal.dp import PrivacyLedger, PrivateTrainer

            ledger = PrivacyLedger.open(context.state_dir, silo=context.silo, config=context.dp)
            self._trainer = PrivateTrainer(
                build_model,
                self.x,
                self.y,
                config=context.dp,
                ledger=ledger,
                batch_size=32,
                steps_per_round=20,
                learning_rate=0.5,
            )

    def get_weights(self) -> list[Array]:
        return fedseal.torch.arrays(self.model)

    def layer_names(self) -> list[str]:
        """The ``state_dict`` keys of the arrays (declared to the server when the silo connects)."""
        return fedseal.torch.names(self.model)

    def privacy_plan(self) -> Any:
        """The rounds the remaining ε budget allows (``fedseal.client.budget``); None without DP."""
        return None if self._trainer is None else self._trainer.privacy_plan()

    def round_released(self, round_id: int) -> None:
        """The server attested ``round_id``: mark it released in the privacy ledger."""
        if self._trainer is not None:
            self._trainer.round_released(round_id)

    def fit(
        self, weights: list[Array], config: Mapping[str, Any]
    ) -> tuple[list[Array], int, Mapping[str, float]]:
        if self._trainer is not None:  # DP-SGD: σ, q, C and steps are the silo's own
            new, n, metrics = self._trainer.fit(weights, int(config["round"]), config)
            return [np.asarray(a, dtype=np.float64) for a in new], n, metrics
        fedseal.torch.load(self.model, weights)
        lr = float(config.get("lr", LR))
        epochs = int(config.get("local_epochs", 1))
        if not (0 < lr <= 10 and 1 <= epochs <= 100):
            raise ValueError(f"round config out of range: lr={lr}, local_epochs={epochs}")
        optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        x, y = torch.from_numpy(self.x), torch.from_numpy(self.y)
        generator = torch.Generator().manual_seed(int(config["round"]))
        self.model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(y), generator=generator).split(BATCH):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(self.model(x[batch]), y[batch])
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
        return fedseal.torch.arrays(self.model), len(self.y), {}

    def evaluate(
        self, weights: list[Array], config: Mapping[str, Any]
    ) -> tuple[float, int, Mapping[str, float]]:
        if self.dp is not None:  # un-noised figures on the silo's data: not sent under DP
            return 0.0, len(self.y), {}
        loss, accuracy = loss_and_accuracy(self.model, weights, self.x, self.y)
        return loss, len(self.y), {"accuracy": accuracy}


def loss_and_accuracy(model: nn.Module, weights: Any, x: Array, y: Array) -> tuple[float, float]:
    """Cross-entropy and accuracy of ``weights`` (a list of arrays, or flat) on ``(x, y)``."""
    if not isinstance(weights, list):  # a flat vector, e.g. the simulation's final model
        layout = layout_of(fedseal.torch.arrays(model))
        assert layout is not None
        weights = layout.unflatten(np.asarray(weights, dtype=np.float64))
    fedseal.torch.load(model, weights)
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x))
        loss = float(nn.functional.cross_entropy(out, torch.from_numpy(y)))
        accuracy = float((out.argmax(-1) == torch.from_numpy(y)).double().mean())
    return loss, accuracy


def test_accuracy(weights: Any) -> float:
    """Accuracy of ``weights`` (list of arrays, or the flat global model) on the held-out set."""
    x, y = load_test()
    return loss_and_accuracy(build_model(), weights, x, y)[1]


test_accuracy.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def make_app(context: SiloContext) -> DigitsApp:
    """The ``--app`` factory: ``fedseal client --app app:make_app`` from this folder."""
    return DigitsApp(context)
