"""DPConfig validation: bad values are refused with the parameter's name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fedseal.dp import DPConfig
from fedseal.errors import ConfigError


def test_defaults_are_secure() -> None:
    config = DPConfig(epsilon_budget=8.0, noise_multiplier=1.0)
    assert config.secure_rng is True
    assert config.accountant == "rdp"
    assert config.delta == 1e-5


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"noise_multiplier": float("nan")}, "noise_multiplier"),
        ({"noise_multiplier": 1.0, "delta": 1.0}, "delta"),
        ({"noise_multiplier": 1.0, "delta": 1.5}, "delta"),
        ({"noise_multiplier": 1.0, "delta": 0.0}, "delta"),
        ({"noise_multiplier": 1.0, "epsilon_budget": 0.0}, "epsilon_budget"),
        ({"noise_multiplier": 1.0, "epsilon_budget": -3.0}, "epsilon_budget"),
        ({"noise_multiplier": 1.0, "epsilon_budget": float("inf")}, "epsilon_budget"),
        ({"noise_multiplier": 1.0, "accountant": "gdp"}, "accountant"),
        ({"noise_multiplier": 1.0, "max_grad_norm": 0.0}, "max_grad_norm"),
        ({"noise_multiplier": 1.0, "secure_rng": "no"}, "secure_rng"),
        ({"noise_multiplier": 1.0, "allow_budget_increase": 1}, "allow_budget_increase"),
        ({"noise_multiplier": 1.0, "planned_rounds": 3}, "planned_rounds"),
        ({"noise_multiplier": 1.0, "sample_rate": 0.0}, "sample_rate"),
        ({"noise_multiplier": 1.0, "sample_rate": 1.5}, "sample_rate"),
        ({"noise_multiplier": 1.0, "sample_rate": True}, "sample_rate"),
        ({}, "noise_multiplier"),
        ({"noise_multiplier": 1.0, "target_epsilon": 1.0, "planned_rounds": 1}, "noise_multiplier"),
        ({"target_epsilon": 4.0}, "planned_rounds"),
        ({"target_epsilon": 4.0, "planned_rounds": 0}, "planned_rounds"),
        ({"target_epsilon": 9.0, "planned_rounds": 3}, "target_epsilon"),
        ({"target_epsilon": -1.0, "planned_rounds": 3}, "target_epsilon"),
    ],
)
def test_bad_config_names_the_parameter(kwargs: dict[str, Any], name: str) -> None:
    merged: dict[str, Any] = {"epsilon_budget": 8.0, **kwargs}
    with pytest.raises(ConfigError, match=name):
        DPConfig(**merged)


def test_config_is_frozen_and_keyword_only() -> None:
    config = DPConfig(epsilon_budget=8.0, noise_multiplier=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.delta = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        DPConfig(8.0, 1.0)  # type: ignore[misc]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        DPConfig(epsilon_budget=8.0, noise_multiplier=-1.0)
