"""The ground grid, checked against angles worked by hand: a pinhole 640 x 480 px, 60 deg wide (fx = fy =
320 / tan 30 deg = 554.26 px), 20 deg down, yaw 0, over flat ground."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.console.grid import ground_grid
from edge.geo.camera_model import CameraModel
from edge.geo.orientation import camera_rotation
from edge.geo.terrain import FlatGround
from edge.types import Pose

CAM = CameraModel.from_hfov(640, 480, 60.0)
FY = 320 / math.tan(math.radians(30))


def _pose(height_m: float) -> Pose:
    return Pose(0.0, 42.6, 19.9, 500.0 + height_m, cam_pitch=math.radians(-20.0))


def _at_column(line: list[list[float]], u: float) -> float:
    """v (px) of a polyline where it crosses column u (linear between its points)."""
    pts = np.asarray(line)
    order = np.argsort(pts[:, 0])
    return float(np.interp(u, pts[order, 0], pts[order, 1]))


def test_the_range_line_passes_where_that_range_is_seen() -> None:
    # 100 m away seen 20 deg down from 36.40 m up: the image centre
    pose = _pose(100 * math.tan(math.radians(20)))
    grid = ground_grid(CAM, camera_rotation(pose), FlatGround(500.0), pose, 5000.0)
    lines = [ln for ln in grid["lines"] if ln["kind"] == "range" and ln["label"] == "100 m"]
    assert lines, [ln["label"] for ln in grid["lines"]]
    assert _at_column(max(lines, key=len)["pts"], 320.0) == pytest.approx(240.0, abs=0.5)
    # 200 m: depression atan(36.40 / 200) = 10.31 deg, 9.69 deg above the axis: v = 240 - fy tan(9.69 deg)
    far = max((ln for ln in grid["lines"] if ln["label"] == "200 m"), key=lambda ln: len(ln["pts"]))
    v200 = 240 - FY * math.tan(math.radians(20) - math.atan2(100 * math.tan(math.radians(20)), 200))
    assert _at_column(far["pts"], 320.0) == pytest.approx(v200, abs=0.5)


def test_the_horizon_lies_above_the_axis_by_the_tilt() -> None:
    pose = _pose(30.0)
    grid = ground_grid(CAM, camera_rotation(pose), FlatGround(500.0), pose, 5000.0)
    horizon = [ln for ln in grid["lines"] if ln["kind"] == "horizon"]
    assert len(horizon) == 1
    assert _at_column(horizon[0]["pts"], 320.0) == pytest.approx(240 - FY * math.tan(math.radians(20)), abs=0.5)


def test_the_bearing_line_straight_ahead_is_the_centre_column() -> None:
    pose = _pose(30.0)
    grid = ground_grid(CAM, camera_rotation(pose), FlatGround(500.0), pose, 5000.0)
    north = [ln for ln in grid["lines"] if ln["kind"] == "bearing" and ln["label"] == "000°"]
    assert north and all(abs(u - 320.0) < 0.01 for u, _ in north[0]["pts"])


def test_without_a_ground_model_only_the_horizon() -> None:
    pose = _pose(30.0)
    grid = ground_grid(CAM, camera_rotation(pose), None, pose, 5000.0)
    assert {ln["kind"] for ln in grid["lines"]} == {"horizon"}


def test_a_camera_below_the_ground_draws_no_ground_lines() -> None:
    pose = _pose(-5.0)
    grid = ground_grid(CAM, camera_rotation(pose), FlatGround(500.0), pose, 5000.0)
    assert {ln["kind"] for ln in grid["lines"]} <= {"horizon"}


def test_the_footprint_of_a_camera_looking_straight_down() -> None:
    # 90 deg wide, square, 100 m up: the ground seen is 200 m x 200 m, image top towards north
    from edge.console.grid import footprint
    from edge.geo.wgs84 import LocalNed

    cam = CameraModel.from_hfov(640, 640, 90.0)
    pose = Pose(0.0, 42.6, 19.9, 600.0, cam_pitch=math.radians(-90.0))
    pts = np.asarray(footprint(cam, camera_rotation(pose), FlatGround(500.0), pose, 5000.0, per_edge=2))
    n, e, _ = LocalNed(42.6, 19.9, 600.0).to_ned(pts[:, 0], pts[:, 1], 500.0)
    # clockwise from the top-left corner: NW, N edge middle, NE, E middle, SE, S middle, SW, W middle
    want = [(100, -100), (100, 0), (100, 100), (0, 100), (-100, 100), (-100, 0), (-100, -100), (0, -100)]
    assert np.allclose(np.column_stack([n, e]), want, atol=0.05)


def test_rays_above_the_horizon_end_at_the_range_cap() -> None:
    from edge.console.grid import footprint
    from edge.geo.wgs84 import LocalNed

    pose = Pose(0.0, 42.6, 19.9, 510.0, cam_pitch=math.radians(-5.0))  # the top edge sees the sky
    pts = np.asarray(footprint(CAM, camera_rotation(pose), FlatGround(500.0), pose, 2000.0, per_edge=2))
    n, e, _ = LocalNed(42.6, 19.9, 510.0).to_ned(pts[:, 0], pts[:, 1], 500.0)
    assert np.hypot(n[0], e[0]) == pytest.approx(2000.0, rel=1e-3)  # top-left corner: sky
    assert 10 < np.hypot(n[5], e[5]) < 2000  # bottom edge: on the ground
