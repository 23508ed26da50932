"""GPS error and gimbal frame rules of the MAVLink pose feed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edge.sources.mavlink_pose import gimbal_frame, gps_errors

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
