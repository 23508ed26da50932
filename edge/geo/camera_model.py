"""Camera model: intrinsics (from the field of view or an OpenCV calibration file) and the camera's rotation.

Frames (docs/CONVENTIONS.md):

* NED — local earth frame: x north, y east, z down (m); see ``edge.geo.wgs84``.
* body — the vehicle: x nose, y right wing, z down. R_body_to_ned = Rz(yaw) @ Ry(pitch) @ Rx(roll).
* gimbal / camera ("g") — x_g along the optical axis, y_g image right, z_g image down. Its rotation to NED
  (body, mounting and gimbal composed, honouring the gimbal mode) is ``edge.geo.orientation.camera_rotation``.
  cam_pitch = -90° looks straight down with image top along body +x.
* OpenCV camera ("cv") — x right, y down, z forward: d_g = (d_cv.z, d_cv.x, d_cv.y).

Pixels: u right, v down, origin at the image's top-left *corner*, so column i has its centre at u = i + 0.5 and
a pinhole from the horizontal field of view has fx = fy = (W/2) / tan(hfov/2), cx = W/2, cy = H/2. OpenCV
calibrations put pixel centres on integers, so their principal point is shifted by 0.5 px on loading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class CalibrationError(ValueError):
    """A calibration file that cannot be read or lacks what we need; the message names the file."""


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics with optional OpenCV distortion.

    fx, fy (px); cx, cy (px, corner-origin convention: image centre = W/2); width, height (px) of the image the
    numbers belong to; dist: OpenCV distortion coefficients (k1, k2, p1, p2[, k3, ...]) or empty.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: tuple[float, ...] = ()

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> CameraModel:
        """Distortion-free pinhole with the principal point at the image centre."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180), not {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, width, height)

    @classmethod
    def from_file(cls, path: str | Path) -> CameraModel:
        """Read an OpenCV calibration (YAML/XML/JSON via cv2.FileStorage): ``camera_matrix`` (3x3),
        ``dist_coeffs`` (or ``distortion_coefficients``), ``image_width`` and ``image_height``."""
        path = Path(path)
        if not path.is_file():
            raise CalibrationError(f"{path}: no such calibration file")
        try:
            fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        except (cv2.error, SystemError) as err:  # OpenCV's parser error surfaces as SystemError from Python
            why = str(getattr(err, "err", None) or err.__cause__ or err).strip().splitlines()[0][:200]
            raise CalibrationError(f"{path}: not an OpenCV calibration file: {why}") from None
        try:
            k = fs.getNode("camera_matrix").mat()
            dist_node = fs.getNode("dist_coeffs")
            if dist_node.empty():
                dist_node = fs.getNode("distortion_coefficients")
            dist = dist_node.mat()
            w, h = fs.getNode("image_width").real(), fs.getNode("image_height").real()
        except cv2.error as err:
            raise CalibrationError(f"{path}: not an OpenCV calibration file: {err.err}") from None
        finally:
            fs.release()
        if k is None or k.shape != (3, 3):
            raise CalibrationError(f"{path}: camera_matrix must be a 3x3 matrix")
        if not (w > 0 and h > 0):
            raise CalibrationError(f"{path}: image_width and image_height must be given (px)")
        coeffs = () if dist is None else tuple(float(x) for x in np.asarray(dist, np.float64).ravel())
        if len(coeffs) not in (0, 4, 5, 8, 12, 14):
            raise CalibrationError(f"{path}: dist_coeffs must have 4, 5, 8, 12 or 14 values, not {len(coeffs)}")
        k = np.asarray(k, np.float64)
        if not (np.isfinite(k).all() and np.isfinite(coeffs).all()):
            raise CalibrationError(f"{path}: camera_matrix and dist_coeffs must be finite numbers")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationError(f"{path}: camera_matrix focal lengths must be positive")
        return cls(k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5, round(w), round(h), coeffs)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera at another resolution (a stream scaled from the calibrated size)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return replace(
            self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy, width=width, height=height
        )

    def rays(self, uv: npt.ArrayLike) -> F64:
        """Camera-frame ray directions (N, 3) = (1, x, y), not normalised, through pixels ``uv`` (N, 2)."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        if self.dist and len(uv):
            k = np.array([[self.fx, 0.0, self.cx - 0.5], [0.0, self.fy, self.cy - 0.5], [0.0, 0.0, 1.0]])
            crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
            src = (uv - 0.5).reshape(-1, 1, 2)
            pts = cv2.undistortPoints(src, k, np.array(self.dist, np.float64), None, None, None, crit)
            xy = np.asarray(pts, np.float64).reshape(-1, 2)
        else:
            xy = np.stack([(uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy], axis=1)
        return np.column_stack([np.ones(len(xy)), xy])
