"""The simulated autopilot: exact telemetry without noise, the commands it honours, what it records, its noise."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources import quat
from sim.autopilot import BOOT_S, Autopilot, GaussMarkov
from sim.scenario import Noise, load_scenario
from sim.world import World

SCEN = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
T = 12.5  # the sim time the autopilot is frozen at


def _world(name: str, noise: Noise | None = None) -> World:
    s = load_scenario(SCEN / name)
    return World(s.model_copy(update={"noise": noise or Noise(gps_m=0, alt_m=0, att_deg=0)}))


class Ground:
    """A ground station on a UDP port: collects what the autopilot sends, sends it commands."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.parser = mavlink.MAVLink(None, 255, 190)
        self.packer = mavlink.MAVLink(None, 255, 190)
        self.got: list[Any] = []
        self.peer: Any = None

    def pump(self, until: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(self.got):
            try:
                data, self.peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.got += self.parser.parse_buffer(data) or []
        assert until(self.got), f"timed out; got {sorted({m.get_type() for m in self.got})}"
        return self.got

    def send(self, msg: Any) -> None:
        self.sock.sendto(bytes(msg.pack(self.packer)), self.peer)

    def last(self, mtype: str) -> Any:
        return [m for m in self.got if m.get_type() == mtype][-1]


@pytest.fixture
def ground() -> Iterator[Ground]:
    g = Ground()
    yield g
    g.sock.close()


def _start(world: World, ground: Ground, **kw: Any) -> Autopilot:
    ap = Autopilot(world, [f"udpout:127.0.0.1:{ground.port}"], clock=lambda: T, **kw)
    ap.start()
    return ap


def _has(*types: str) -> Callable[[list[Any]], bool]:
    return lambda got: set(types) <= {m.get_type() for m in got}


def test_exact_telemetry_without_noise(ground: Ground) -> None:
    world = _world("drone-border.toml")
    ap = _start(world, ground)
    try:
        ground.pump(_has("HEARTBEAT", "GLOBAL_POSITION_INT", "ATTITUDE", "GPS_RAW_INT", "SYSTEM_TIME", "SYS_STATUS"))
        ground.pump(_has("GIMBAL_DEVICE_ATTITUDE_STATUS"))
    finally:
        ap.stop()
    truth = world.platform(T)
    hb, gpi, att = ground.last("HEARTBEAT"), ground.last("GLOBAL_POSITION_INT"), ground.last("ATTITUDE")
    assert (hb.type, hb.autopilot, hb.get_srcSystem(), hb.get_srcComponent()) == (2, 3, 1, 1)
    assert gpi.time_boot_ms == att.time_boot_ms == int((T + BOOT_S) * 1000)
    assert (gpi.lat, gpi.lon, gpi.alt) == (round(truth.lat * 1e7), round(truth.lon * 1e7), round(truth.alt * 1000))
    assert gpi.relative_alt == round((truth.alt - world.home[2]) * 1000)
    assert (att.roll, att.pitch, att.yaw) == pytest.approx((truth.roll, truth.pitch, truth.yaw), abs=1e-6)
    gps = ground.last("GPS_RAW_INT")
    assert gps.fix_type == 3 and gps.h_acc == 50  # 0.05 m floor when the scenario has no noise
    # drone-border: stabilised gimbal whose yaw follows the nose -> vehicle-frame yaw (90 deg right of the nose)
    gim = ground.last("GIMBAL_DEVICE_ATTITUDE_STATUS")
    assert gim.flags & mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
    roll, pitch, yaw_rel = quat.to_euler(tuple(gim.q))
    assert (roll, pitch) == pytest.approx((truth.cam_roll, truth.cam_pitch), abs=1e-6)
    assert math.cos(truth.yaw + yaw_rel - truth.cam_yaw) == pytest.approx(1.0, abs=1e-9)


def test_commands_are_honoured_and_recorded(ground: Ground) -> None:
    ap = _start(_world("drone-border.toml"), ground)
    try:
        ground.pump(_has("HEARTBEAT"))
        cmd = mavlink.MAV_CMD_SET_MESSAGE_INTERVAL
        ground.send(mavlink.MAVLink_command_long_message(1, 1, cmd, 0, 30, 20_000, 0, 0, 0, 0, 0))
        ground.pump(lambda got: any(m.get_type() == "COMMAND_ACK" for m in got))
        assert ground.last("COMMAND_ACK").result == mavlink.MAV_RESULT_ACCEPTED and ap.rates["ATTITUDE"] == 50.0
        ground.send(mavlink.MAVLink_command_long_message(1, 1, cmd, 0, 27, 20_000, 0, 0, 0, 0, 0))  # RAW_IMU
        ground.pump(lambda got: sum(m.get_type() == "COMMAND_ACK" for m in got) >= 2)
        assert ground.last("COMMAND_ACK").result == mavlink.MAV_RESULT_DENIED
        ground.send(mavlink.MAVLink_command_long_message(1, 1, cmd, 0, 24, -1, 0, 0, 0, 0, 0))  # GPS_RAW_INT off
        ground.send(mavlink.MAVLink_request_data_stream_message(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 3, 1))
        ground.send(mavlink.MAVLink_timesync_message(0, 123456789))
        ground.send(mavlink.MAVLink_statustext_message(mavlink.MAV_SEVERITY_ALERT, b"person at 400 m"))
        ground.pump(lambda got: any(m.get_type() == "TIMESYNC" for m in got))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not ap.messages("STATUSTEXT"):
            time.sleep(0.02)
    finally:
        ap.stop()
    assert ap.rates["GPS_RAW_INT"] == 0.0 and ap.rates["GLOBAL_POSITION_INT"] == 3.0
    ts = ground.last("TIMESYNC")
    assert (ts.tc1, ts.ts1) == (int((T + BOOT_S) * 1e9), 123456789)
    assert ap.messages("STATUSTEXT")[0].text == "person at 400 m"
    assert {"COMMAND_LONG", "REQUEST_DATA_STREAM", "TIMESYNC"} <= {m.get_type() for m in ap.received}


def test_pan_tilt_head_role(ground: Ground) -> None:
    world = _world("mss-ridge.toml")  # camera on a panning mast, body frame
    ap = _start(world, ground, role="gimbal")
    try:
        ground.pump(_has("HEARTBEAT", "GIMBAL_DEVICE_ATTITUDE_STATUS"))
        time.sleep(0.3)
        ground.pump(_has("HEARTBEAT", "GIMBAL_DEVICE_ATTITUDE_STATUS"))
    finally:
        ap.stop()
    assert {m.get_type() for m in ground.got} == {"HEARTBEAT", "GIMBAL_DEVICE_ATTITUDE_STATUS"}
    hb = ground.last("HEARTBEAT")
    assert (hb.type, hb.get_srcComponent()) == (mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_COMP_ID_GIMBAL)
    truth = world.platform(T)
    roll, pitch, yaw_rel = quat.to_euler(tuple(ground.last("GIMBAL_DEVICE_ATTITUDE_STATUS").q))
    # level vehicle: relative to the heading == relative to the body
    assert (roll, pitch, yaw_rel) == pytest.approx((truth.cam_roll, truth.cam_pitch, truth.cam_yaw), abs=1e-6)


def test_bad_arguments() -> None:
    world = _world("drone-border.toml")
    with pytest.raises(ValueError, match="at least one"):
        Autopilot(world, [])
    with pytest.raises(ValueError, match="unknown messages"):
        Autopilot(world, ["pty"], rates={"VFR_HUD": 4.0})
    ap = Autopilot(world, ["serial:/dev/ttyS0"])
    with pytest.raises(ValueError, match="expected pty"):
        ap.start()


def test_gauss_markov_noise_has_its_sigma_and_wanders() -> None:
    gm = GaussMarkov(np.random.default_rng(3), sigma=2.0, tau=10.0, n=1)
    xs = np.array([gm.at(k * 1.0)[0] for k in range(20000)])
    assert xs.std() == pytest.approx(2.0, rel=0.1)
    lag1 = np.corrcoef(xs[:-1], xs[1:])[0, 1]
    assert lag1 == pytest.approx(math.exp(-0.1), abs=0.03)  # correlated over tau, not white
