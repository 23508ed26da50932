"""The MSS set-up end to end: position and heading from a real gpsd fed by the simulator's NMEA, the mast camera's
pan and tilt from a MAVLink pan-tilt head (the simulator's gimbal role), one pose store."""

from __future__ import annotations

import math
import shutil
import socket
import time
from pathlib import Path

import pytest

from edge.sources.gps import GpsdSource
from edge.sources.mavlink import MavlinkLink, attach_pose_feed
from edge.sources.pose import PoseStore
from edge.sources.settings import GpsSettings, MavlinkSettings, PoseSettings
from sim.autopilot import Autopilot
from sim.nmea import NmeaFeeder, start_gpsd
from sim.scenario import Noise, load_scenario
from sim.world import World

SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mss-ridge.toml"
pytestmark = pytest.mark.skipif(
    shutil.which("gpsd") is None and not Path("/usr/sbin/gpsd").exists(), reason="the gpsd binary is not installed"
)


def test_gpsd_position_and_heading_with_a_mavlink_pan_tilt_head() -> None:
    s = load_scenario(SCEN)
    world = World(s.model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feeder = NmeaFeeder(world, rate_hz=5.0, clock=clock)
    head = Autopilot(world, [f"udpout:127.0.0.1:{port}"], clock=clock, role="gimbal")
    feeder.start()
    head.start()
    assert feeder.pty_path is not None
    gpsd = start_gpsd(feeder.pty_path)
    store = PoseStore(PoseSettings())
    link = MavlinkLink(MavlinkSettings(url=f"udpin:127.0.0.1:{port}"))
    attach_pose_feed(link, store)
    gps = GpsdSource(GpsSettings(enabled=True, port=gpsd.port), store)
    try:
        link.start()
        gps.start()
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and not (gps.stats["fixes"] >= 3 and link.connected):
            time.sleep(0.05)
        time.sleep(0.5)
        t_mono = time.monotonic() - 0.3
        pose = store.pose_at(t_mono)
        truth = world.platform(t_mono - t0)
    finally:
        gps.stop()
        link.stop()
        gpsd.stop()
        head.stop()
        feeder.stop()
    assert pose is not None, (store.health(), gps.health(), link.health())
    assert link.health()["target_system"] == 1  # the pan-tilt head, a MAV_TYPE_GIMBAL heartbeat
    assert (pose.lat, pose.lon, pose.alt) == pytest.approx((truth.lat, truth.lon, truth.alt), abs=1e-6)
    assert pose.cam_frame == "earth"  # pan relative to the vehicle's heading, heading from gpsd
    assert pose.cam_pitch == pytest.approx(truth.cam_pitch, abs=1e-3)  # the mast's -7 deg tilt
    # the mast sweeps +-60 deg over 40 s (9.4 deg/s at most): a few ms of timing error is a few hundredths of a degree
    assert abs(math.remainder(pose.cam_yaw - (truth.yaw + truth.cam_yaw), math.tau)) < math.radians(0.5)
