"""`edge status` shows where the vehicle is and how it is turned, with the age and source of each, from a real
daemon on the simulator: a drone's autopilot over MAVLink, and a mast vehicle's receiver through a real gpsd."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.demo import REPO, Demo
from sim.scenario import load_scenario

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("scenario", "source", "heading"),
    [("drone-border.toml", "mavlink", "mavlink"), ("mss-ridge.toml", "gpsd", "gpsd")],
)
def test_status_shows_the_last_pose_its_age_and_source(
    tmp_path: Path, scenario: str, source: str, heading: str
) -> None:
    path = REPO / "sim" / "scenarios" / scenario
    demo = Demo(str(path), tmp_path)
    health = tmp_path / "state" / "health.json"
    cfg = tmp_path / "edge.toml"
    try:
        demo.start()
        deadline = time.monotonic() + 90
        pose: dict[str, object] = {}
        while time.monotonic() < deadline:
            if health.exists():
                pose = json.loads(health.read_text())["stages"].get("pose", {})
                if pose.get("last_position") and pose.get("last_attitude"):
                    break
            time.sleep(0.5)
        status = subprocess.run(
            [sys.executable, "-m", "edge", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60
        ).stdout
    finally:
        demo.stop()
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
    pos, att = pose.get("last_position"), pose.get("last_attitude")
    assert isinstance(pos, dict) and isinstance(att, dict), (pose, logs)
    home = load_scenario(str(path)).home  # both scenarios stay within a few hundred metres of home
    assert pos["source"] == source and str(att["source"]).startswith(heading), pose
    assert abs(float(pos["lat"]) - home.lat) < 0.02 and abs(float(pos["lon"]) - home.lon) < 0.02, (pos, home)
    assert 0 <= float(pos["age_s"]) < 5 and 0 <= float(att["age_s"]) < 5, pose
    line = next(x for x in status.splitlines() if x.strip().startswith("position"))
    assert f"({source}, " in line and "s old)" in line, status
    assert "attitude" in status and "yaw" in status, status
