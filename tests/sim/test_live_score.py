"""Scoring received detections against the world's truth, with positions moved by known distances."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edge.geo.wgs84 import LocalNed
from sim.live_score import main, score
from sim.scenario import load_scenario
from sim.world import World

SCENARIO = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"
T0_UTC = 1_790_000_000.0


def _moved(world: World, t: float, index: int, north_m: float, error_m: float) -> dict[str, object]:
    truth = world.targets(t)[index]
    lat, lon, _ = LocalNed(truth.lat, truth.lon, 0.0).to_geodetic(north_m, 0.0, 0.0)
    return {"t_utc": T0_UTC + t, "class": truth.class_name, "lat": float(lat), "lon": float(lon), "error_m": error_m}


def test_errors_coverage_and_unmatched() -> None:
    world = World(load_scenario(SCENARIO))
    dets = [_moved(world, 10.0 + i, 0, north_m=float(i), error_m=5.5) for i in range(1, 11)]  # 1..10 m off
    dets.append(_moved(world, 30.0, 0, north_m=5000.0, error_m=5.0))  # nowhere near a target: unmatched
    dets.append({"t_utc": T0_UTC + 31.0, "class": "person", "lat": None, "lon": None, "error_m": None})  # no fix
    s = score(world, T0_UTC, dets)
    assert s.fixes == 10 and s.unmatched == 1
    # the nearest target of the class may be a companion closer than the one moved: errors are at most the shift
    assert s.median_m <= 5.5 + 1e-6 and s.p90_m <= 9.1 + 1e-6
    assert s.coverage90 == 0.5 and s.median_reported_m == 5.5


def test_time_is_matched_to_the_sim_clock() -> None:
    world = World(load_scenario(SCENARIO))
    vehicle = next(i for i, truth in enumerate(world.targets(20.0)) if truth.class_name == "vehicle")
    exact = _moved(world, 20.0, vehicle, north_m=0.0, error_m=1.0)
    assert score(world, T0_UTC, [exact]).median_m == pytest.approx(0.0, abs=0.01)
    assert math.isnan(score(world, T0_UTC, []).median_m)
    late = dict(exact, t_utc=T0_UTC + 60.0)  # the same position 40 s later: the vehicle has driven on
    assert score(world, T0_UTC, [late]).median_m > 5.0


def test_command_line_scores_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(load_scenario(SCENARIO))
    received = tmp_path / "received.jsonl"
    lines = [json.dumps(_moved(world, 10.0 + i, 0, north_m=float(i), error_m=5.5)) for i in range(1, 11)]
    received.write_text("\n".join(["not json", *lines]) + "\n")
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"camera": "http://x", "seed": world.seed, "t0_utc": T0_UTC}) + "\n")
    assert main([str(received), "--scenario", str(SCENARIO), "--status", str(status), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fixes"] == 10 and out["coverage90"] == 0.5
    assert main([str(received), "--scenario", str(SCENARIO), "--t0-utc", str(T0_UTC)]) == 0
    assert capsys.readouterr().out.startswith("10 fixes: horizontal error median")


def test_command_line_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "none.jsonl"), "--scenario", str(SCENARIO), "--t0-utc", "0"]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    assert main(["-", "--scenario", str(tmp_path / "none.toml"), "--t0-utc", "0"]) == 2
    assert "none.toml" in capsys.readouterr().err
