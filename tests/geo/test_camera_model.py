"""Intrinsics from the field of view and from OpenCV calibration files; rotations of the camera frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.geo.camera_model import CalibrationError, CameraModel, cam_to_ned, rot_zyx
from edge.types import Pose

DEG = math.pi / 180


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_pinhole_from_hfov() -> None:
    cam = CameraModel.from_hfov(640, 480, 90.0)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((320.0, 320.0, 320.0, 240.0))
    # centre, right edge (45° right), bottom edge (36.87° down), pixel column 0's centre
    rays = cam.rays(np.array([[320, 240], [640, 240], [320, 480], [0.5, 240]]))
    assert np.allclose(rays, np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0.75], [1, -319.5 / 320, 0]]))


@pytest.mark.parametrize(
    ("pose", "pixel_dir", "ned"),
    [
        # level camera on a north-facing body looks north
        (Pose(0, 0, 0, 0), (1, 0, 0), (1, 0, 0)),
        # nadir: optical axis down, image top (-z_g) north, image right east
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (1, 0, 0), (0, 0, 1)),
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (0, 0, -1), (1, 0, 0)),
        (Pose(0, 0, 0, 0, cam_pitch=-90 * DEG), (0, 1, 0), (0, 1, 0)),
        # body yawed east, camera 45° down in the body frame: looks east and down
        (Pose(0, 0, 0, 0, yaw=90 * DEG, cam_pitch=-45 * DEG), (1, 0, 0), (0, 1 / math.sqrt(2), 1 / math.sqrt(2))),
        # stabilised gimbal ignores the body's attitude
        (
            Pose(0, 0, 0, 0, roll=20 * DEG, pitch=10 * DEG, yaw=90 * DEG, cam_yaw=180 * DEG, cam_frame="earth"),
            (1, 0, 0),
            (-1, 0, 0),
        ),
        # body rolled 90° right: the camera's right points down
        (Pose(0, 0, 0, 0, roll=90 * DEG), (0, 1, 0), (0, 0, 1)),
        # body pitched 30° nose up, camera level in the body: looks 30° above the horizon
        (Pose(0, 0, 0, 0, pitch=30 * DEG), (1, 0, 0), (math.cos(30 * DEG), 0, -0.5)),
    ],
)
def test_camera_to_ned(pose: Pose, pixel_dir: tuple[float, ...], ned: tuple[float, ...]) -> None:
    assert np.allclose(cam_to_ned(pose) @ np.array(pixel_dir, float), ned, atol=1e-12)


def test_mount_rotation_applied_last() -> None:
    # a camera bolted 90° down on a drone whose autopilot reports no gimbal
    mount = rot_zyx(0.0, -90 * DEG, 0.0)
    r = cam_to_ned(Pose(0, 0, 0, 0, yaw=90 * DEG), mount)
    assert np.allclose(r @ [1, 0, 0], [0, 0, 1], atol=1e-12)  # looks down
    assert np.allclose(r @ [0, 0, -1], [0, 1, 0], atol=1e-12)  # image top towards the nose (east)


K = np.array([[800.0, 0.0, 319.5], [0.0, 805.0, 239.5], [0.0, 0.0, 1.0]])
DIST = np.array([-0.28, 0.09, 0.001, -0.0005, -0.01])


def write_calibration(path: Path, k: np.ndarray = K, dist: np.ndarray | None = DIST, size: bool = True) -> Path:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("camera_matrix", k)
    if dist is not None:
        fs.write("dist_coeffs", dist.reshape(1, -1))
    if size:
        fs.write("image_width", 640)
        fs.write("image_height", 480)
    fs.release()
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".xml"])
def test_calibration_file_with_distortion(tmp_path: Path, suffix: str) -> None:
    cam = CameraModel.from_file(write_calibration(tmp_path / f"cam{suffix}"))
    # OpenCV's principal point 319.5 (pixel centres on integers) is 320.0 in our corner convention
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((800.0, 805.0, 320.0, 240.0))
    assert cam.dist == pytest.approx(tuple(DIST))
    # rays through distorted pixels: project known directions with OpenCV, then invert
    dirs_cv = np.array([[0.0, 0.0, 1.0], [0.3, -0.2, 1.0], [-0.35, 0.25, 1.0], [0.38, 0.28, 1.0]])
    px, _ = cv2.projectPoints(dirs_cv, np.zeros(3), np.zeros(3), K, DIST)
    uv = px.reshape(-1, 2) + 0.5  # OpenCV pixel centres are integers; ours are at +0.5
    rays = cam.rays(uv)
    expected = dirs_cv[:, [2, 0, 1]]  # d_g = (z, x, y)
    assert np.allclose(unit(rays), unit(expected), atol=1e-7)
    # the distortion matters: a distortion-free model is off by pixels at the corner
    plain = CameraModel(cam.fx, cam.fy, cam.cx, cam.cy, 640, 480).rays(uv[3:])
    assert np.degrees(np.arccos(unit(plain) @ unit(expected[3]))) > 0.5


def test_calibration_scaled_to_stream(tmp_path: Path) -> None:
    cam = CameraModel.from_file(write_calibration(tmp_path / "cam.yaml", dist=None)).scaled(1280, 960)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width) == pytest.approx((1600.0, 1610.0, 640.0, 480.0, 1280))
    assert cam.dist == ()


def test_calibration_errors(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no such"):
        CameraModel.from_file(tmp_path / "missing.yaml")
    with pytest.raises(CalibrationError, match="image_width"):
        CameraModel.from_file(write_calibration(tmp_path / "nosize.yaml", size=False))
    (tmp_path / "bad.json").write_text(json.dumps({"camera_matrix": [1, 2, 3]}))
    with pytest.raises(CalibrationError, match=r"bad\.json"):
        CameraModel.from_file(tmp_path / "bad.json")
    with pytest.raises(CalibrationError, match="3x3"):
        CameraModel.from_file(write_calibration(tmp_path / "k.yaml", k=np.eye(2)))
