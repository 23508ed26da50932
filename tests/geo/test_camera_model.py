"""Intrinsics from the field of view and from OpenCV calibration files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.geo.camera_model import CalibrationError, CameraModel

DEG = math.pi / 180


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_pinhole_from_hfov() -> None:
    cam = CameraModel.from_hfov(640, 480, 90.0)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((320.0, 320.0, 320.0, 240.0))
    # centre, right edge (45° right), bottom edge (36.87° down), pixel column 0's centre
    rays = cam.rays(np.array([[320, 240], [640, 240], [320, 480], [0.5, 240]]))
    assert np.allclose(rays, np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0.75], [1, -319.5 / 320, 0]]))


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
