"""``fedseal demo`` options: the crash is left out where it would leave every round short."""

from __future__ import annotations

from typing import Any

import pytest

from fedseal.cli import main


@pytest.mark.parametrize(("silos", "crash"), [(3, None), (4, 2), (5, 2)])
def test_the_demo_kills_a_hospital_only_when_the_rest_can_go_on(
    silos: int,
    crash: int | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[Any] = []

    def fake_run_demo(opts: Any) -> dict[str, Any]:
        seen.append(opts)
        return {"rounds_completed": opts.rounds}

    monkeypatch.setattr("fedseal.demo.run.run_demo", fake_run_demo)
    assert main(["demo", "--silos", str(silos), "--rounds", "3", "--no-dp"]) == 0
    assert seen[0].crash_round == crash
    note = "not killing a hospital: with 3 hospitals every round needs all of them"
    assert (note in capsys.readouterr().out) == (crash is None)
