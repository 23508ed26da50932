"""Camera maths of the renderer, exactly as docs/CONVENTIONS.md defines it (forward direction: world -> pixel).

R_body_to_ned = Rz(yaw) Ry(pitch) Rx(roll); R_cam_to_ned = R_body_to_ned R_gimbal (cam_frame "body") or R_gimbal
("earth"); gimbal axes x forward, y right, z down; OpenCV ray d_cv = (d_g.y, d_g.z, d_g.x);
fx = fy = (W/2) / tan(hfov/2), cx = W/2, cy = H/2; pixel column i has its centre at u = i + 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.types import Pose

F64 = npt.NDArray[np.float64]


def rot_zyx(yaw: float, pitch: float, roll: float) -> F64:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll), angles in rad; (3, 3)."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx


def r_cam_to_ned(pose: Pose) -> F64:
    """Rotation (3, 3) taking gimbal-frame vectors (x fwd, y right, z down) to NED."""
    r_g = rot_zyx(pose.cam_yaw, pose.cam_pitch, pose.cam_roll)
    if pose.cam_frame == "earth":
        return r_g
    return rot_zyx(pose.yaw, pose.pitch, pose.roll) @ r_g


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole from the horizontal field of view: fx = fy (px), principal point (cx, cy) at the image centre."""

    width: int
    height: int
    fx: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, fx, width / 2.0, height / 2.0)


def project(points_ned: F64, cam_ned: F64, r_cn: F64, k: Intrinsics) -> tuple[F64, F64]:
    """Project world points (N, 3) NED (m) seen from camera position ``cam_ned`` (3,).

    Returns uv (N, 2) pixels (u right, v down, continuous coordinates) and depth (N,) m along the optical axis;
    points with depth <= 0 are behind the camera and their uv is meaningless.
    """
    g = (np.asarray(points_ned, np.float64) - cam_ned) @ r_cn  # rows: R^T (p - c) in gimbal axes
    depth = g[:, 0]
    z = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    u = k.cx + k.fx * g[:, 1] / z
    v = k.cy + k.fx * g[:, 2] / z
    return np.stack([u, v], axis=1), depth


def pixel_rays(k: Intrinsics, r_cn: F64, step: int = 1) -> npt.NDArray[np.float32]:
    """NED ray directions (H/step, W/step, 3), not normalised, through pixel centres every ``step`` px."""
    u = (np.arange(0, k.width, step, dtype=np.float32) + 0.5 * step - k.cx) / k.fx
    v = (np.arange(0, k.height, step, dtype=np.float32) + 0.5 * step - k.cy) / k.fx
    r = r_cn.astype(np.float32)
    # d_g = (1, u, v) -> NED = r[:, 0] + u * r[:, 1] + v * r[:, 2]
    return (
        r[:, 0][None, None, :] + u[None, :, None] * r[:, 1][None, None, :] + v[:, None, None] * r[:, 2][None, None, :]
    )
