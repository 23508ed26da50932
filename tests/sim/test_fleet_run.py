"""``python -m sim.fleet_run`` refuses what it cannot run, naming the file and key (the run itself:
tests/integration/test_centre_fleet.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import fleet_run

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


def test_a_scenario_with_one_platform_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--scenario", str(SCENARIOS / "drone-border.toml"), "--seconds", "1", "--workdir", str(tmp_path)]
    assert fleet_run.main(argv) == 2
    assert "drone-border.toml: vehicles: a fleet run needs at least two [[vehicles]]" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing started
