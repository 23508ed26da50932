"""The camera's orientation: the one function the geolocator, the wire record and every other consumer call.

R_cam_to_ned = R_holder @ R_mount @ R_gimbal (docs/CONVENTIONS.md), where

* a gimbal that reports its angles relative to the body (``Pose.cam_frame == "body"``): holder = the body,
  R_gimbal = the reported angles, R_mount = how the gimbal's base sits on the body;
* a gimbal that reports relative to the earth (``"earth"``: gimbal protocol v2, roll/pitch to the horizon and yaw to
  north or, converted by the pose store, to the heading): R_cam_to_ned = R_gimbal — it measures the camera itself,
  so its base's mounting cancels out;
* nothing reports the camera (``"mount"``): R_gimbal = I and the holder follows ``Mounting.gimbal_mode``:
  ``"body"`` (camera fixed to the body: holder = R_body), ``"stabilised"`` (roll and pitch held to the horizon, yaw
  following the body: holder = Rz(body yaw)) or ``"earth"`` (roll, pitch and yaw held, yaw to north: holder = I).

Plain 3x3 maths on tuples (a few µs a frame: the codec calls it for every record), numpy arrays out, no OpenCV: the
codec on the ground side imports this too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt

from edge.types import Pose

F64 = npt.NDArray[np.float64]
M3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]  # rows of a 3x3
GIMBAL_MODES = ("body", "stabilised", "earth")


def _rot(yaw: float, pitch: float, roll: float) -> M3:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll) as rows; angles in rad."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    return (
        (cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr),
        (sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr),
        (-sp, cp * sr, cp * cr),
    )


def _mul(a: M3, b: M3) -> M3:
    """a @ b."""
    (b00, b01, b02), (b10, b11, b12), (b20, b21, b22) = b
    r0, r1, r2 = (
        (x * b00 + y * b10 + z * b20, x * b01 + y * b11 + z * b21, x * b02 + y * b12 + z * b22) for x, y, z in a
    )
    return r0, r1, r2


def rot_zyx(yaw: float, pitch: float, roll: float) -> F64:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll) (3, 3); angles in rad."""
    return np.array(_rot(yaw, pitch, roll))


def euler_zyx(r: F64 | M3) -> tuple[float, float, float]:
    """(yaw, pitch, roll) rad of a rotation matrix (3, 3); straight up/down puts yaw and roll all in yaw."""
    (r00, r01, _), (r10, r11, _), (r20, r21, r22) = r.tolist() if isinstance(r, np.ndarray) else r
    pitch = math.asin(max(-1.0, min(1.0, -r20)))
    if abs(r20) > 1 - 1e-9:
        return math.atan2(-r01, r11), pitch, 0.0
    return math.atan2(r10, r00), pitch, math.atan2(r21, r22)


def rotation_vector(r: F64) -> F64:
    """Axis x angle (3,) rad of a rotation matrix (3, 3)."""
    angle = math.acos(float(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    norm = float(np.linalg.norm(axis))
    return axis / norm * angle if norm > 1e-12 else np.zeros(3)


def rotation_matrix(w: F64) -> F64:
    """The rotation matrix (3, 3) of a rotation vector ``w`` (3,) rad (Rodrigues)."""
    th = float(np.linalg.norm(w))
    if th < 1e-15:
        return np.eye(3)
    k = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]]) / th
    return np.eye(3) + math.sin(th) * k + (1.0 - math.cos(th)) * (k @ k)


@dataclass(frozen=True)
class Mounting:
    """How the camera is mounted: Z-Y-X angles (rad) relative to its holder, and the holder when nothing reports
    the camera's angles (``gimbal_mode``, one of GIMBAL_MODES)."""

    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    gimbal_mode: str = "body"

    def __post_init__(self) -> None:
        if self.gimbal_mode not in GIMBAL_MODES:
            raise ValueError(f"gimbal_mode must be one of {GIMBAL_MODES}, not {self.gimbal_mode!r}")

    @classmethod
    def from_degrees(cls, roll: float, pitch: float, yaw: float, gimbal_mode: str = "body") -> Mounting:
        return cls(math.radians(roll), math.radians(pitch), math.radians(yaw), gimbal_mode)

    @property
    def matrix(self) -> F64:
        """R_mount (3, 3)."""
        return np.array(self.rows)

    @cached_property
    def rows(self) -> M3:
        """R_mount as rows."""
        return _rot(self.yaw, self.pitch, self.roll)


NO_MOUNT = Mounting()


def _composed(pose: Pose, mounting: Mounting) -> M3:
    if pose.cam_frame == "earth":
        return _rot(pose.cam_yaw, pose.cam_pitch, pose.cam_roll)
    if pose.cam_frame == "body":
        holder = _mounted(_rot(pose.yaw, pose.pitch, pose.roll), mounting)
        return _mul(holder, _rot(pose.cam_yaw, pose.cam_pitch, pose.cam_roll))
    if mounting.gimbal_mode == "body":
        return _mounted(_rot(pose.yaw, pose.pitch, pose.roll), mounting)
    if mounting.gimbal_mode == "stabilised":
        return _mounted(_rot(pose.yaw, 0.0, 0.0), mounting)
    return mounting.rows


def _mounted(holder: M3, mounting: Mounting) -> M3:
    """holder @ R_mount (skipped for a mounting with no angles)."""
    return _mul(holder, mounting.rows) if mounting.roll or mounting.pitch or mounting.yaw else holder


def camera_rotation(pose: Pose, mounting: Mounting = NO_MOUNT) -> F64:
    """R_cam_to_ned (3, 3): camera-frame vectors (x optical axis, y image right, z image down) to NED."""
    return np.array(_composed(pose, mounting))


def lever_arm_ned(pose: Pose, offset_frd: F64) -> F64:
    """The camera's position from the pose's reference point in NED (3,) m, for its offset (3,) m forward, right and
    down on the body: R_body @ offset (a camera held by a gimbal or stabiliser sits on the body all the same)."""
    return rot_zyx(pose.yaw, pose.pitch, pose.roll) @ offset_frd


def camera_attitude(pose: Pose, mounting: Mounting = NO_MOUNT) -> tuple[float, float, float]:
    """The camera's (yaw, pitch, roll) in NED, rad: the Euler angles of ``camera_rotation``."""
    return euler_zyx(_composed(pose, mounting))


def resolved(pose: Pose, mounting: Mounting) -> Pose:
    """The same pose with its camera angles replaced by the camera's attitude in NED (``cam_frame="earth"``), so
    that anyone reading it (the wire record, the pilot's screen) sees the orientation the fixes were made with."""
    yaw, pitch, roll = camera_attitude(pose, mounting)
    return replace(pose, cam_yaw=yaw, cam_pitch=pitch, cam_roll=roll, cam_frame="earth")
