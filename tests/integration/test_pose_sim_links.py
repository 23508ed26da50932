"""The daemon's MAVLink reader against the simulated autopilot over UDP, TCP and a serial pty (real bytes, real
sockets): connected, the pose store matches the simulator's truth, and the autopilot heard our heartbeat and our
rate requests."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink import MavlinkLink, attach_pose_feed
from edge.sources.pose import PoseStore
from edge.sources.settings import MavlinkSettings, PoseSettings
from sim.autopilot import Autopilot
from sim.scenario import Noise, load_scenario
from sim.world import LocalFrame, World

SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "drone-border.toml"


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["udp", "tcp", "pty"])
def wired(request: pytest.FixtureRequest) -> Iterator[tuple[World, Autopilot, MavlinkLink, PoseStore]]:
    scenario = load_scenario(SCEN)
    world = World(scenario.model_copy(update={"noise": Noise(gps_m=0, alt_m=0, att_deg=0)}))
    kind = request.param
    port = _udp_port()
    ap = Autopilot(world, {"udp": [f"udpout:127.0.0.1:{port}"], "tcp": ["tcpin:127.0.0.1:0"], "pty": ["pty"]}[kind])
    ap.start()
    if kind == "udp":
        url = f"udpin:127.0.0.1:{port}"
    elif kind == "tcp":
        url = f"tcp:127.0.0.1:{ap.links[0].port}"  # type: ignore[attr-defined]
    else:
        url = f"serial:{ap.pty_path}:921600"
    link = MavlinkLink(MavlinkSettings(url=url))
    store = PoseStore(PoseSettings())
    attach_pose_feed(link, store)
    link.start()
    yield world, ap, link, store
    link.stop()
    ap.stop()


def test_reader_follows_the_simulator(wired: tuple[World, Autopilot, MavlinkLink, PoseStore]) -> None:
    world, ap, link, store = wired
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline and (not link.connected or store.pose_at(time.monotonic() - 0.3) is None):
        time.sleep(0.05)
    assert link.connected, link.health()
    time.sleep(1.0)  # a second of telemetry at the rates we asked for
    checks = 0
    for lag in (0.35, 0.3, 0.25):
        t_mono = time.monotonic() - lag
        pose = store.pose_at(t_mono)
        truth = world.platform(ap.now() - (time.monotonic() - t_mono))
        assert pose is not None, store.health()
        n, e, d = LocalFrame(truth.lat, truth.lon, truth.alt).to_ned(pose.lat, pose.lon, pose.alt)
        assert math.hypot(float(n), float(e)) < 0.5 and abs(float(d)) < 0.3  # 15 m/s x a few ms of clock error
        assert (pose.roll, pose.pitch) == pytest.approx((truth.roll, truth.pitch), abs=0.01)
        assert math.cos(pose.yaw - truth.yaw) > math.cos(0.01)
        assert pose.cam_frame == "earth" and pose.cam_pitch == pytest.approx(truth.cam_pitch, abs=0.01)
        assert math.cos(pose.cam_yaw - truth.cam_yaw) > math.cos(0.01)
        assert pose.age_s == 0.0
        checks += 1
    assert checks == 3
    assert store.ground_alt_hint() == pytest.approx(world.home[2], abs=0.01)
    h = link.health()
    assert (h["bad_crc"], h["garbage_bytes"], h["seq_lost"]) == (0, 0, 0)
    assert h["clock_offset_s"] is not None
    ours = [m for m in ap.received if m.get_type() == "HEARTBEAT"]
    assert ours and ours[0].get_srcComponent() == 191 and ours[0].type == mavlink.MAV_TYPE_ONBOARD_CONTROLLER
    deadline = time.monotonic() + 5.0  # the link measures the rates for a second, then asks for what is short
    while time.monotonic() < deadline and ap.rates["ATTITUDE"] != pytest.approx(20.0):
        time.sleep(0.05)
    assert ap.rates["ATTITUDE"] == pytest.approx(20.0)  # attitude_hz asked by SET_MESSAGE_INTERVAL
    assert link.send(mavlink.MAVLink_statustext_message(mavlink.MAV_SEVERITY_ALERT, b"vehicle at 1.2 km"))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not ap.messages("STATUSTEXT"):
        time.sleep(0.02)
    assert ap.messages("STATUSTEXT")[0].text == "vehicle at 1.2 km"
