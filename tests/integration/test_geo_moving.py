"""Geolocation while the drone moves: straight legs at 3 and 10 m/s with an earth-stabilised camera, through the
whole chain (simulator camera + autopilot -> `edge run` -> Mosquitto -> `edge listen`), scored against the truth.

The airframe leans into its travel like ArduPilot's copter (~8° at 3 m/s, ~28° at 10 m/s) while the gimbal holds
the camera 45° down. Either the gimbal says nothing and the daemon knows it from `[geo] gimbal_mode =
"stabilised"` (derived from the scenario as `make demo` does), or it reports GIMBAL_DEVICE_ATTITUDE_STATUS.
Targets: median error <= 3 m at 3 m/s and <= 6 m at 10 m/s, 85-95 % of the fixes inside the reported 90 % radius
(over the runs together; one run's share is asserted more loosely, see ``assert_radius_holds``).
The same with ArduPilot SITL flying the legs where the machine has it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sim.daemon_config import Sections
from sim.demo import REPO, Demo
from sim.live_score import LiveScore

SCENARIO = REPO / "sim" / "scenarios" / "stabilised-legs.toml"
SECONDS = 50.0
MEDIAN_M = {3.0: 3.0, 10.0: 6.0}


def fly(
    tmp_path: Path, speed_mps: float, reports: bool, seconds: float = SECONDS, extra: Sections | None = None
) -> LiveScore:
    """Fly the leg at ``speed_mps`` with the gimbal reporting or silent; the score of what `edge listen` got.
    ``extra``: daemon config sections over the derived ones."""
    text = SCENARIO.read_text()
    text = text.replace("speed_mps = 3.0", f"speed_mps = {speed_mps}")
    text = text.replace("\nreports_angles = false", f"\nreports_angles = {str(reports).lower()}")
    scenario = tmp_path / "legs.toml"
    scenario.write_text(text)
    demo = Demo(str(scenario), tmp_path, extra=extra)
    try:
        demo.follow(demo.start(), echo=False)
        time.sleep(seconds)
    finally:
        demo.stop()
    (tmp_path / "received.jsonl").write_text("".join(json.dumps(d) + "\n" for d in demo.received))
    (tmp_path / "status.json").write_text(json.dumps(demo.status))
    result = demo.score()
    print(f"{speed_mps} m/s, gimbal {'reporting' if reports else 'silent'}: {result.line()}")
    return result


@pytest.mark.parametrize("reports", [False, True], ids=["silent-gimbal", "reporting-gimbal"])
@pytest.mark.parametrize("speed_mps", [3.0, 10.0])
def test_fixes_and_radius_hold_at_speed(tmp_path: Path, speed_mps: float, reports: bool) -> None:
    result = fly(tmp_path, speed_mps, reports)
    logs = {p.name: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
    assert result.fixes >= 40, (result, logs)
    assert result.unmatched <= 0.15 * result.fixes, result
    assert result.median_m <= MEDIAN_M[speed_mps], result
    assert_radius_holds(result)


def assert_radius_holds(result: LiveScore) -> None:
    """The reported 90 % radius covers the errors, and is not a blanket. One run's coverage spreads widely (a
    track's fixes share their pose errors, so 50-250 fixes are some 10-25 independent draws; measured 0.72-1.0 per
    run on a loaded machine) around the ~0.9 that the runs give together (figures in sim/README.md); radii are whole
    metres, rounded up, on the wire."""
    assert result.coverage90 >= 0.7, result
    assert result.median_reported_m <= 3.0 * result.median_m + 1.0, result


ARDUCOPTER = shutil.which("arducopter")


def _pilot(url: str, speed_mps: float, seconds: float) -> None:
    """Fly ArduPilot SITL like a pilot in GUIDED: arm, take off to 60 m, then north at ``speed_mps`` for
    ``seconds``, nose north (velocity set-points at 4 Hz)."""
    from pymavlink import mavutil

    m = mavutil.mavlink_connection(url, source_system=250)
    assert m.wait_heartbeat(timeout=60) is not None, "no heartbeat from SITL"
    m.set_mode("GUIDED")
    deadline = time.monotonic() + 120  # GPS lock and the EKF take a while after boot
    while not m.motors_armed():
        assert time.monotonic() < deadline, "SITL would not arm"
        m.arducopter_arm()
        m.recv_match(type="HEARTBEAT", blocking=True, timeout=2)
    cmd = m.mav.command_long_send
    cmd(m.target_system, m.target_component, mavutil.mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 0, 60)
    deadline = time.monotonic() + 60
    while True:
        msg = m.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=2)
        if msg is not None and msg.relative_alt > 57_000:
            break
        assert time.monotonic() < deadline, "SITL did not climb to 60 m"
    velocity_only = 0b0000_1001_1100_0111  # ignore position, acceleration and yaw rate; use velocity and yaw
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m.mav.set_position_target_local_ned_send(
            0, m.target_system, m.target_component, 1, velocity_only, 0, 0, 0, speed_mps, 0, 0, 0, 0, 0, 0.0, 0
        )
        time.sleep(0.25)
    m.close()


@pytest.mark.skipif(ARDUCOPTER is None, reason="ArduPilot SITL (arducopter on PATH) is not installed here")
@pytest.mark.parametrize("speed_mps", [3.0, 10.0])
def test_legs_with_ardupilot_sitl(tmp_path: Path, speed_mps: float) -> None:
    """ArduPilot SITL flies the leg (its copter leans ~8° / ~28°), the simulator's camera follows it with the
    scenario's silent stabilised gimbal, the daemon reads SITL on its second port: the same targets."""
    assert ARDUCOPTER is not None
    home = "42.5978,19.9392,1000,0"
    sitl = subprocess.Popen(
        [ARDUCOPTER, "--model", "quad", "--speedup", "1", "--home", home, "-I", "0"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    demo = Demo(str(SCENARIO), tmp_path, sitl=("tcp:127.0.0.1:5760", "tcp:127.0.0.1:5762"))
    try:
        demo.follow(demo.start(), echo=False)
        _pilot("tcp:127.0.0.1:5763", speed_mps, SECONDS)
    finally:
        demo.stop()
        sitl.terminate()
        sitl.wait(10)
    result = demo.score()
    print(f"SITL {speed_mps} m/s: {result.line()}")
    assert result.fixes >= 20, result
    assert result.median_m <= MEDIAN_M[speed_mps], result
    assert_radius_holds(result)
