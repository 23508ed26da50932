"""Unit quaternions (w, x, y, z) for Z-Y-X Euler attitudes (docs/CONVENTIONS.md): conversion and slerp.

A quaternion q rotates vectors from the rotated frame (body, camera) into the reference frame (NED):
R(q) = Rz(yaw) @ Ry(pitch) @ Rx(roll). Angles in radians.
"""

from __future__ import annotations

import math

Quat = tuple[float, float, float, float]


def from_euler(roll: float, pitch: float, yaw: float) -> Quat:
    """Z-Y-X Euler angles (rad) -> unit quaternion (w, x, y, z)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def to_euler(q: Quat) -> tuple[float, float, float]:
    """Unit quaternion (w, x, y, z) -> Z-Y-X Euler (roll, pitch, yaw) in rad; yaw in (-pi, pi]."""
    w, x, y, z = normalize(q)
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def normalize(q: Quat) -> Quat:
    """q / |q|; raises ValueError for a zero or non-finite quaternion."""
    n = math.sqrt(sum(c * c for c in q))
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError(f"not a rotation quaternion: {q}")
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


def multiply(a: Quat, b: Quat) -> Quat:
    """Hamilton product a * b (apply b first, then a)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def slerp(q0: Quat, q1: Quat, f: float) -> Quat:
    """Spherical linear interpolation from q0 (f = 0) to q1 (f = 1) along the shorter arc."""
    dot = sum(a * b for a, b in zip(q0, q1, strict=True))
    if dot < 0:
        q1, dot = (-q1[0], -q1[1], -q1[2], -q1[3]), -dot
    if dot > 0.9995:  # nearly the same rotation: normalised lerp is exact enough and avoids 0/0
        return normalize(tuple(a + f * (b - a) for a, b in zip(q0, q1, strict=True)))  # type: ignore[arg-type]
    theta = math.acos(dot)
    s0 = math.sin((1 - f) * theta) / math.sin(theta)
    s1 = math.sin(f * theta) / math.sin(theta)
    return normalize(tuple(s0 * a + s1 * b for a, b in zip(q0, q1, strict=True)))  # type: ignore[arg-type]


def wrap(a: float) -> float:
    """Angle (rad) wrapped to (-pi, pi]."""
    return -(((-a + math.pi) % (2 * math.pi)) - math.pi)
