"""GPS error and gimbal frame rules of the MAVLink pose feed."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources import quat
from edge.sources.mavlink_pose import _Feed, gimbal_frame, gps_errors
from edge.sources.pose import PoseStore
from edge.sources.settings import PoseSettings

F = mavlink


@pytest.mark.parametrize(
    ("h_acc", "v_acc", "eph", "epv", "expected"),
    [
        (1500, 2500, 80, 120, (1.5, 2.5)),  # accuracies from the receiver win (mm)
        (0, 0, 80, 120, (2.4, 3.6)),  # HDOP 0.8, VDOP 1.2 x 3 m
        (0, 0, 65535, 65535, (None, None)),  # unknown
    ],
)
def test_gps_errors(h_acc: int, v_acc: int, eph: int, epv: int, expected: tuple[float | None, float | None]) -> None:
    msg = SimpleNamespace(h_acc=h_acc, v_acc=v_acc, eph=eph, epv=epv)
    assert gps_errors(msg) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("flags", "frame"),
    [
        (F.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME, "earth"),
        (F.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME, "heading"),
        (F.GIMBAL_DEVICE_FLAGS_YAW_LOCK, "earth"),  # older gimbals: lock means north-referenced
        (F.GIMBAL_DEVICE_FLAGS_YAW_LOCK | F.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME, "heading"),
        (0, "heading"),
    ],
)
def test_gimbal_frame(flags: int, frame: str) -> None:
    assert gimbal_frame(flags) == frame


class _Link:
    """The two things the feed asks of a link: who the autopilot is, and the clock (boot ms -> s + 1000)."""

    target_component = 1

    def to_mono(self, time_boot_ms: int, component: int | None = None) -> float:
        return 1000.0 + time_boot_ms / 1000.0


def _as(component: int, msg: Any) -> Any:
    """The message as it arrives from (system 1, ``component``): packed and parsed, CRC and header real."""
    buf = msg.pack(mavlink.MAVLink(None, 1, component))
    return mavlink.MAVLink(None, 0, 0).parse_buffer(bytes(buf))[0]


def _gps(fix: int) -> Any:
    return mavlink.MAVLink_gps_raw_int_message(0, fix, 0, 0, 0, 80, 120, 0, 0, 10, 0, 1500, 2500, 0, 0, 0)


def test_feed_follows_the_fix_components_and_gimbal_kinds() -> None:
    store = PoseStore(PoseSettings(body_yaw_deg=None))
    feed = _Feed(_Link(), store)  # type: ignore[arg-type]
    gpi = mavlink.MAVLink_global_position_int_message(2000, 425978000, 199392000, 1100000, 100000, 0, 0, 0, 0)
    feed(_as(1, _gps(2)), 1002.0)
    feed(_as(1, gpi), 1002.0)
    assert feed.skipped_no_fix == 1 and store.health().get("position_mavlink") is None  # 2D: not used
    feed(_as(1, _gps(3)), 1002.0)
    feed(_as(1, gpi), 1002.0)
    feed(_as(1, mavlink.MAVLink_attitude_message(2000, 0.1, -0.2, 1.0, 0, 0, 0)), 1002.0)
    feed(_as(154, mavlink.MAVLink_attitude_message(2000, 0.5, 0.5, 0.5, 0, 0, 0)), 1002.0)  # not the autopilot's
    feed(_as(154, mavlink.MAVLink_mount_status_message(0, 0, -4500, 0, 3000, 0)), 1002.0)  # old gimbal: cdeg
    p = store.pose_at(1002.0)  # boot 2.000 s -> 1002 s on our clock
    assert p is not None
    assert (p.lat, p.lon, p.alt, p.pos_err_m, p.alt_err_m) == pytest.approx((42.5978, 19.9392, 1100.0, 1.5, 2.5))
    assert store.ground_alt_hint() == pytest.approx(1000.0)
    assert (p.roll, p.pitch, p.yaw) == pytest.approx((0.1, -0.2, 1.0))
    assert (p.cam_frame, p.cam_pitch, p.cam_yaw) == (
        "earth",
        pytest.approx(math.radians(-45)),
        pytest.approx(1.0 + math.radians(30)),
    )
    # a gimbal speaking protocol v2 wins over MOUNT_STATUS from then on
    q = quat.from_euler(0.0, math.radians(-60), math.radians(10))
    flags = F.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
    feed(
        _as(154, mavlink.MAVLink_gimbal_device_attitude_status_message(0, 0, 2100, flags, list(q), 0, 0, 0, 0)), 1002.0
    )
    feed(_as(154, mavlink.MAVLink_mount_status_message(0, 0, 0, 0, 0, 0)), 1002.2)
    p = store.pose_at(1002.2)  # had MOUNT_STATUS been taken, its zero pitch would be the newest sample
    assert p is not None
    assert (p.cam_frame, p.cam_pitch, p.cam_yaw) == (
        "earth",
        pytest.approx(math.radians(-60)),
        pytest.approx(math.radians(10)),
    )


def test_camera_height_above_the_autopilot() -> None:
    # a rover with its camera on a 5.5 m mast above the autopilot: the pose is the camera's, the ground stays
    store = PoseStore(PoseSettings(body_yaw_deg=0.0, camera_height_m=5.5))
    feed = _Feed(_Link(), store)  # type: ignore[arg-type]
    feed(_as(1, _gps(3)), 1002.0)
    feed(
        _as(1, mavlink.MAVLink_global_position_int_message(2000, 425978000, 199392000, 1001000, 1000, 0, 0, 0, 0)),
        1002.0,
    )
    p = store.pose_at(1002.0)
    assert p is not None and p.alt == pytest.approx(1006.5)
    assert store.ground_alt_hint() == pytest.approx(1000.0)
