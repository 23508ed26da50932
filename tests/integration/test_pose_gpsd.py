"""A real gpsd fed by the simulator's NMEA on a pty: the MSS pose (3D fixes, mast height, true heading), gpsd
restarting under the reader, and a 2D fix that must not become a position."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import pytest

from bench.waits import wait_for
from edge.sources.gps import GpsdSource
from edge.sources.pose import PoseStore
from edge.sources.settings import GpsSettings, PoseSettings
from sim.nmea import NmeaFeeder, start_gpsd
from sim.scenario import Noise, load_scenario
from sim.world import World

SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mss-ridge.toml"
pytestmark = pytest.mark.skipif(
    shutil.which("gpsd") is None and not Path("/usr/sbin/gpsd").exists(), reason="the gpsd binary is not installed"
)


def _world() -> World:
    s = load_scenario(SCEN)
    return World(s.model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))


def test_mss_pose_from_gpsd_and_gpsd_restart() -> None:
    world = _world()
    feeder = NmeaFeeder(world, rate_hz=5.0, antenna_height_m=2.0)
    feeder.start()
    assert feeder.pty_path is not None
    gpsd = start_gpsd(feeder.pty_path)
    store = PoseStore(PoseSettings())
    src = GpsdSource(GpsSettings(enabled=True, port=gpsd.port, antenna_height_m=2.0, camera_height_m=6.0), store)
    try:
        src.start()
        # the first fix comes before gpsd's first GST (the error ellipse): wait for a few more
        assert wait_for(lambda: src.stats["fixes"] >= 6 and store.pose_at(time.monotonic() - 0.3)), src.health()
        pose = store.pose_at(time.monotonic() - 0.3)
        truth = world.platform(feeder.now())  # parked: the truth does not move
        assert pose is not None and pose.source.value == "gpsd"
        assert (pose.lat, pose.lon) == pytest.approx((truth.lat, truth.lon), abs=3e-7)  # NMEA's 1e-5 minute
        assert pose.alt == pytest.approx(truth.alt, abs=0.02)  # antenna 1262 m - 2 m + 6 m mast = camera 1266 m
        assert store.ground_alt_hint() == pytest.approx(1260.0, abs=0.02)
        assert math.cos(pose.yaw - truth.yaw) > math.cos(math.radians(0.1))  # true heading (HDT -> ATT)
        assert src.heading_source == "true heading" and src.mode == 3
        assert pose.pos_err_m == pytest.approx(0.05)  # the GST 1-sigma the feeder wrote
        # gpsd goes away and comes back on the same port: the reader notices and reconnects
        port = gpsd.port
        gpsd.stop()
        assert wait_for(lambda: src.state == "reconnecting", 10.0), src.health()
        fixes = src.stats["fixes"]
        gpsd = start_gpsd(feeder.pty_path, port)
        assert wait_for(lambda: src.stats["fixes"] > fixes + 2, 20.0), src.health()
        assert src.stats["reconnects"] >= 1 and src.state == "3D fix"
    finally:
        src.stop()
        gpsd.stop()
        feeder.stop()


def test_a_2d_fix_is_not_used_as_3d() -> None:
    feeder = NmeaFeeder(_world(), rate_hz=5.0, fix="2d")
    feeder.start()
    assert feeder.pty_path is not None
    gpsd = start_gpsd(feeder.pty_path)
    store = PoseStore(PoseSettings(body_yaw_deg=0.0))
    src = GpsdSource(GpsSettings(enabled=True, port=gpsd.port), store)
    try:
        src.start()
        assert wait_for(lambda: src.stats["fix_2d_skipped"] >= 3), src.health()
        assert src.state == "2D fix (not used)"  # gpsd itself says mode 3 on the RMC-only TPVs, without altitude
        assert src.stats["fixes"] == 0
        assert store.pose_at(time.monotonic()) is None
        assert store.ground_alt_hint() is None
    finally:
        src.stop()
        gpsd.stop()
        feeder.stop()
