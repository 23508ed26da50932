"""The camera's offset from the pose's reference point (geo.offset_*_m, a lever arm rotated with the body)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edge.geo.locator import GroundGeolocator
from edge.geo.orientation import lever_arm_ned
from edge.geo.settings import GeoSettings
from edge.geo.wgs84 import LocalNed
from edge.types import Detections, EventKind, Frame, Pose, TrackEvents

DEG = math.pi / 180
W, H = 640, 480
CENTRE_BOX = np.array([310.0, 200.0, 330.0, 240.0])  # bottom-centre at the image centre
EXACT: dict[str, Any] = {"pos_err_m": 0.0, "alt_err_m": 0.0, "att_err_rad": 0.0}
BASE: dict[str, Any] = {"hfov_deg": 60.0, "ground_alt_m": 0.0, "earth_curvature": False, "gimbal_err_deg": 0.0}


@pytest.mark.parametrize(
    ("ypr_deg", "offset", "ned"),
    [
        ((0, 0, 0), (2, 3, 1), (2, 3, 1)),  # level, heading north: forward = north, right = east
        ((90, 0, 0), (2, 3, 0), (-3, 2, 0)),  # heading east: forward = east, right = south
        ((0, 0, 90), (0, 0, 1), (0, -1, 0)),  # rolled 90° right: the body's down points west
    ],
)
def test_lever_arm_turns_with_the_body(
    ypr_deg: tuple[float, ...], offset: tuple[float, ...], ned: tuple[float, ...]
) -> None:
    yaw, pitch, roll = (a * DEG for a in ypr_deg)
    pose = Pose(0, 42.0, 19.0, 100.0, roll=roll, pitch=pitch, yaw=yaw)
    assert lever_arm_ned(pose, np.array(offset, float)) == pytest.approx(ned, abs=1e-9)


def test_fix_and_reported_pose_move_with_the_camera() -> None:
    # nadir camera 100 m up, vehicle heading east; camera 2 m forward, 3 m right, 1 m down: 3 m south, 2 m east,
    # 99 m above the ground
    pose = Pose(0, 42.0, 19.0, 100.0, yaw=90 * DEG, cam_pitch=-90 * DEG, **EXACT)
    geo = GroundGeolocator(GeoSettings(**BASE, offset_forward_m=2.0, offset_right_m=3.0, offset_down_m=1.0))
    f = geo.fix_boxes([CENTRE_BOX], ["thing"], W, H, pose)
    n, e, d = LocalNed(pose.lat, pose.lon, pose.alt).to_ned(f.lat[0], f.lon[0], f.alt[0])
    assert (float(n), float(e), float(d)) == pytest.approx((-3.0, 2.0, 100.0), abs=1e-3)
    assert f.range_m[0] == pytest.approx(99.0, abs=1e-3)
    # the record's pose is the camera's own position
    frame = Frame(np.zeros((H, W, 3), np.uint8), t_mono=0.0, t_utc=1.7e9, seq=1)
    dets = Detections(np.array([CENTRE_BOX]), np.array([0.9]), np.array([0]), np.array([1]))
    seen = geo.locate(frame, TrackEvents(dets, np.array([EventKind.NEW])), pose, ["thing"]).pose
    assert seen is not None
    n, e, d = LocalNed(pose.lat, pose.lon, pose.alt).to_ned(seen.lat, seen.lon, seen.alt)
    assert (float(n), float(e), float(d)) == pytest.approx((-3.0, 2.0, 1.0), abs=1e-3)
