"""Following ArduPilot SITL (here: the simulated autopilot on TCP, as SITL's 5760) or replaying the SITL tlog."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path

import pytest

from sim.autopilot import Autopilot
from sim.scenario import Noise, load_scenario
from sim.sitl import pose_follower
from sim.world import World

REPO = Path(__file__).resolve().parents[2]
TLOG = REPO.parent / "shared" / "data" / "sitl-copter-plav.tlog"
SCEN = REPO / "sim" / "scenarios" / "drone-border.toml"


@pytest.mark.skipif(not TLOG.is_file(), reason=f"{TLOG} is absent")
def test_the_tlog_drives_the_world() -> None:
    follow = pose_follower(str(TLOG))
    world = World(load_scenario(SCEN), platform_override=follow)
    start, mid, after = world.platform(0.0), world.platform(100.0), world.platform(10_000.0)
    assert (start.lat, start.lon) == pytest.approx((42.5978, 19.9392), abs=2e-5)  # home (the log's README)
    assert start.alt == pytest.approx(1000.0, abs=1.0)
    assert mid.alt - 1000.0 == pytest.approx(111.0, abs=5.0)  # on the leg north-east at about 110-120 m
    assert mid.lat > start.lat and mid.lon > start.lon
    held = world.platform(500.0)  # after the log's 207 s: the last pose, held
    assert (after.lat, after.lon, after.alt) == (held.lat, held.lon, held.alt)
    assert after.alt - 1000.0 < 90.0  # landing
    # no gimbal in the log: the scenario's camera angles are applied
    assert mid.cam_pitch == pytest.approx(world.true_platform(100.0).cam_pitch)


def test_bad_tlog_path() -> None:
    with pytest.raises(ValueError, match="no such tlog"):
        pose_follower("/nonexistent/flight.tlog")


def test_live_follow_over_tcp() -> None:
    scenario = load_scenario(SCEN)
    truth_world = World(scenario.model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))
    ap = Autopilot(truth_world, ["tcpin:127.0.0.1:0"], clock=lambda: 30.0)
    ap.start()
    follow = pose_follower(f"tcp:127.0.0.1:{ap.links[0].port}")  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 10.0
        pose = None
        while time.monotonic() < deadline and pose is None:
            pose = follow(0.0)
            time.sleep(0.05)
    finally:
        follow.stop()  # type: ignore[attr-defined]
        ap.stop()
    truth = truth_world.platform(30.0)
    assert pose is not None
    assert (pose.lat, pose.lon, pose.alt) == pytest.approx((truth.lat, truth.lon, truth.alt), abs=1e-6)
    assert math.cos(pose.yaw - truth.yaw) == pytest.approx(1.0, abs=1e-9)


def test_the_simulators_own_gimbal_echoed_back_is_not_followed() -> None:
    """`edge sim --sitl URL --gimbal URL` behind ArduPilot: the autopilot forwards the simulator's gimbal reports
    back to its SITL link. Here both go to one UDP port; the camera must stay where the scenario holds it."""
    from sim.cli import Sim, _parser
    from sim.demo import free_port

    port = free_port(socket.SOCK_DGRAM)
    scen = REPO / "sim" / "scenarios" / "sitl-plav.toml"
    no_gimbal = load_scenario(scen).model_copy(update={"camera": load_scenario(scen).camera.model_copy(
        update={"reports_angles": False})})  # fmt: skip
    sitl = Autopilot(World(no_gimbal), [f"udpout:127.0.0.1:{port}"])  # ArduPilot without a gimbal
    url = f"127.0.0.1:{port}"
    args = ["--scenario", str(scen), "--http-port", "0", "--sitl", f"udpin:{url}", "--gimbal", f"udpout:{url}"]
    sim = Sim(_parser().parse_args(args))
    sitl.start()
    try:
        sim.start()
        assert sim.world is not None
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and sim.world.platform_override(0.0) is None:  # type: ignore[misc]
            time.sleep(0.05)
        time.sleep(2.0)  # ~20 of its own gimbal reports came back meanwhile
        followed = sim.world.platform_override(0.0)  # type: ignore[misc]
        pose = sim.world.platform(sim.clock())
    finally:
        sim.stop()
        sitl.stop()
    assert followed is not None and pose.alt == pytest.approx(1110.0, abs=5.0)  # SITL's pose is followed ...
    # ... and the camera is the scenario's (earth-stabilised, 45° down), not its own noisy echo
    assert (pose.cam_frame, pose.cam_pitch, pose.cam_roll) == ("earth", pytest.approx(math.radians(-45), abs=1e-9), 0.0)
