"""The ``[dp]`` table of ``silo.toml``: the silo's differential-privacy settings.

Its schema table is :data:`DP`; its dataclass, :class:`DPSettings`, mirrors
:class:`fedseal.dp.config.DPConfig`, which validates every value (so the options here carry no
checks of their own, except ``enabled``, which ``DPConfig`` does not have). Standard library
only (:mod:`fedseal.dp.config` is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from fedseal.config.schema import BOOL, INT, NUMBER, STR, Option, Table
from fedseal.dp.config import DPConfig
from fedseal.errors import ConfigError

__all__ = ["DEFAULT_NOISE_MULTIPLIER", "DP", "DPSettings"]

#: Noise multiplier used when a silo's ``[dp]`` table gives neither it nor ``target_epsilon``.
DEFAULT_NOISE_MULTIPLIER = 1.0


def _enabled(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


#: ``silo.toml [dp]``, in the order ``fedseal provision`` writes it (it writes
#: ``noise_multiplier = DEFAULT_NOISE_MULTIPLIER`` last).
DP = Table(
    (
        Option(key="enabled", kind=BOOL, default=True, check=_enabled),
        Option(key="epsilon_budget", kind=NUMBER, default=8.0),
        Option(key="delta", kind=NUMBER, default=1e-5),
        Option(key="max_grad_norm", kind=NUMBER, default=1.0),
        Option(key="accountant", kind=STR, default="rdp"),
        Option(
            key="allow_budget_increase",
            kind=BOOL,
            default=False,
            comment=(
                "set true only to raise epsilon_budget above what this silo's ledger holds; "
                "the\nchange is recorded in the ledger, audited and shown in the privacy report"
            ),
        ),
        Option(
            key="neighbouring_relation",
            kind=STR,
            default="add_remove",
            comment=(
                '"add_remove" (one record added or removed) or "replace_one" (one record '
                'replaced,\nrecord count public; needs accountant = "rdp"); fixed once the '
                "ledger exists"
            ),
        ),
        Option(
            key="noise_multiplier",
            kind=NUMBER,
            default=None,
            comment=(
                "sigma in units of max_grad_norm; or replace it by target_epsilon and "
                "planned_rounds"
            ),
        ),
        Option(key="target_epsilon", kind=NUMBER, default=None),
        Option(key="planned_rounds", kind=INT, default=None),
        Option(key="sample_rate", kind=NUMBER, default=None),
    )
)


@dataclass(frozen=True, kw_only=True)
class DPSettings:
    """A silo's differential-privacy settings; mirrors :class:`fedseal.dp.config.DPConfig`.

    ``enabled = False`` trains without DP. With neither ``noise_multiplier`` nor
    ``target_epsilon`` given, ``noise_multiplier`` is ``DEFAULT_NOISE_MULTIPLIER`` (1.0). The
    noise always comes from a CSPRNG (``DPConfig.secure_rng`` cannot be switched off here).
    ``allow_budget_increase = true`` lets this start raise the ``epsilon_budget`` stored in the
    silo's privacy ledger (refused otherwise; every change is recorded and audited).

    Raises
    ------
    ConfigError
        As :class:`~fedseal.dp.config.DPConfig` does, naming the parameter.
    """

    enabled: bool = DP.default("enabled")
    epsilon_budget: float = DP.default("epsilon_budget")
    delta: float = DP.default("delta")
    noise_multiplier: float | None = DP.default("noise_multiplier")
    target_epsilon: float | None = DP.default("target_epsilon")
    planned_rounds: int | None = DP.default("planned_rounds")
    max_grad_norm: float = DP.default("max_grad_norm")
    accountant: str = DP.default("accountant")
    sample_rate: float | None = DP.default("sample_rate")
    allow_budget_increase: bool = DP.default("allow_budget_increase")
    neighbouring_relation: str = DP.default("neighbouring_relation")

    def __post_init__(self) -> None:
        DP.validate(self)
        if self.noise_multiplier is None and self.target_epsilon is None:
            object.__setattr__(self, "noise_multiplier", DEFAULT_NOISE_MULTIPLIER)
        self._dp_config()  # validates every field, even when DP is disabled

    def _dp_config(self) -> DPConfig:
        return DPConfig(
            epsilon_budget=self.epsilon_budget,
            noise_multiplier=self.noise_multiplier,
            target_epsilon=self.target_epsilon,
            planned_rounds=self.planned_rounds,
            max_grad_norm=self.max_grad_norm,
            delta=self.delta,
            accountant=cast(Any, self.accountant),
            sample_rate=self.sample_rate,
            allow_budget_increase=self.allow_budget_increase,
            neighbouring_relation=cast(Any, self.neighbouring_relation),
        )

    def to_dp_config(self) -> DPConfig | None:
        """The :class:`~fedseal.dp.config.DPConfig` to train with, or None if DP is off."""
        return self._dp_config() if self.enabled else None
