"""`edge sim --pose-log` with the tlog recorded from a real ArduPilot SITL copter: the camera follows its flight."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TLOG = ROOT.parent / "shared" / "data" / "sitl-copter-plav.tlog"
PLAV = ROOT / "sim" / "scenarios" / "sitl-plav.toml"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("sim.sitl") is None, reason="sim/sitl.py not written yet"),
    pytest.mark.skipif(not TLOG.is_file(), reason=f"{TLOG} not present"),
]


def test_camera_follows_the_recorded_sitl_flight(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "sim", "--scenario", str(PLAV), "--pose-log", str(TLOG), "--duration", "3",
         "--http-port", "0", "--record", str(rec)],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"pose-log {TLOG}" in proc.stdout.splitlines()
    poses = [json.loads(line)["pose"] for line in (rec / "truth.jsonl").read_text().splitlines()]
    assert len(poses) >= 10
    for p in poses:
        # SITL home 42.5978 N 19.9392 E, 1000 m; the flight stays within ~500 m and below ~1130 m
        assert abs(p["lat"] - 42.5978) < 0.006 and abs(p["lon"] - 19.9392) < 0.008
        assert 990.0 < p["alt"] < 1140.0
        assert p["source"] != "sim"  # the pose came from the log, not from the scenario's orbit
        assert p["cam_pitch"] == pytest.approx(-0.785, abs=0.01)  # the scenario's -45 deg gimbal on SITL's body
