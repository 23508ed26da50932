"""The heading from a landmark at a pixel, on geometry worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.geo.camera_model import CameraModel
from edge.geo.landmark import bearing_deg, heading_from_landmark
from edge.geo.orientation import Mounting, camera_rotation
from edge.types import Pose

EAST_1KM = math.degrees(1000.0 / 6378137.0)  # 1000 m east along the equator (WGS84 a)
CAM = CameraModel.from_hfov(1000, 600, 90.0)  # fx = 500 px, centre (500, 300)


def r_at_north(pitch_deg: float = 0.0, yaw_deg: float = 0.0, mode: str = "body") -> np.ndarray:
    pose = Pose(t_mono=0.0, lat=0.0, lon=0.0, alt=10.0, cam_frame="mount")
    return camera_rotation(pose, Mounting.from_degrees(0.0, pitch_deg, yaw_deg, mode))


@pytest.mark.parametrize(
    ("cam_pitch", "pixel", "want"),
    [
        (0.0, (500.0, 300.0), 90.0),  # optical axis on the landmark: the vehicle faces it
        (0.0, (1000.0, 300.0), 45.0),  # right edge of a 90 deg view: the landmark 45 deg right of the nose
        (0.0, (0.0, 300.0), 135.0),
        # looking 10 deg down: the ray (1, 1, 0) in the camera is (cos 10, 1, sin 10) in the body frame, azimuth
        # atan(1 / cos 10) = 45.4385 deg, so the heading is 90 - 45.4385
        (-10.0, (1000.0, 300.0), 44.5615),
    ],
)
def test_heading_from_a_landmark_due_east(cam_pitch: float, pixel: tuple[float, float], want: float) -> None:
    heading, dist = heading_from_landmark(CAM, r_at_north(cam_pitch), (0.0, 0.0), (0.0, EAST_1KM), pixel)
    assert heading == pytest.approx(want, abs=1e-3)
    assert dist == pytest.approx(1000.0, abs=0.01)


@pytest.mark.parametrize("mode", ["body", "stabilised"])
def test_mount_yaw_is_taken_out(mode: str) -> None:
    r = r_at_north(yaw_deg=30.0, mode=mode)  # the camera turned 30 deg right on its mount
    heading, _ = heading_from_landmark(CAM, r, (0.0, 0.0), (0.0, EAST_1KM), (500.0, 300.0))
    assert heading == pytest.approx(60.0, abs=1e-3)


def test_bearing_north_and_refusals() -> None:
    assert bearing_deg(10.0, 20.0, 10.01, 20.0)[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="straight up or down"):
        heading_from_landmark(CAM, r_at_north(-90.0), (0.0, 0.0), (0.0, EAST_1KM), (500.0, 300.0))
    with pytest.raises(ValueError, match="where the camera is"):
        heading_from_landmark(CAM, r_at_north(), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0))
