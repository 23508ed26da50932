"""Targets as small meshes of prisms (person: legs, torso, arms, head; vehicle: wheels, body, glass cabin;
boat: hull, cabin, wake), their ground-truth boxes, shadows and painter's-order drawing.

Target frame: x forward (along heading), y right, z up (m above the ground-contact point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sim.render_camera import Intrinsics, project
from sim.world import TargetTruth

F64 = npt.NDArray[np.float64]
NEAR_M = 0.5  # points closer than this along the optical axis are "behind" the camera
_SHIFT = 4  # sub-pixel bits for cv2 polygon drawing


@dataclass(frozen=True)
class Part:
    """A vertical prism: convex outline (K, 2) x/y (m) from z0 to z1 (m); colours BGR, temperatures K over ambient."""

    outline: F64
    z0: float
    z1: float
    side: tuple[float, float, float]
    top: tuple[float, float, float]
    side_k: float
    top_k: float


def _box(x0: float, x1: float, y0: float, y1: float) -> F64:
    """Counter-clockwise (seen from above, x north-like, y east-like) rectangle outline (4, 2)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


PERSON_CLOTHES = [(45, 75, 55), (35, 35, 35), (130, 85, 45), (60, 90, 110), (95, 115, 105), (40, 40, 120)]
VEHICLE_PAINT = [
    (225, 225, 225),
    (40, 40, 40),
    (170, 170, 165),
    (40, 40, 170),
    (140, 75, 30),
    (55, 90, 70),
    (150, 180, 190),
]
BOAT_HULL = [(235, 235, 230), (50, 50, 160), (120, 70, 30), (140, 140, 140)]
GLASS = (60, 45, 35)
TYRE = (25, 25, 25)
SKIN = (90, 125, 175)


def target_parts(tt: TargetTruth, seed: int) -> list[Part]:
    """The prisms that make up one target, coloured from (seed, id)."""
    rng = np.random.default_rng([seed, tt.id, 7])
    L, W, H = tt.length_m, tt.width_m, tt.height_m
    if tt.class_name == "person":
        sx, sy = L / 0.5, W / 0.5
        legs = PERSON_CLOTHES[int(rng.integers(len(PERSON_CLOTHES)))]
        body = PERSON_CLOTHES[int(rng.integers(len(PERSON_CLOTHES)))]
        return [
            Part(_box(-0.06 * sx, 0.06 * sx, -0.15 * sy, -0.03 * sy), 0.0, 0.47 * H, legs, legs, 6.0, 6.0),
            Part(_box(-0.06 * sx, 0.06 * sx, 0.03 * sy, 0.15 * sy), 0.0, 0.47 * H, legs, legs, 6.0, 6.0),
            Part(_box(-0.11 * sx, 0.11 * sx, -0.19 * sy, 0.19 * sy), 0.45 * H, 0.83 * H, body, body, 9.0, 9.0),
            Part(_box(-0.05 * sx, 0.05 * sx, -0.25 * sy, -0.19 * sy), 0.42 * H, 0.82 * H, body, body, 8.0, 8.0),
            Part(_box(-0.05 * sx, 0.05 * sx, 0.19 * sy, 0.25 * sy), 0.42 * H, 0.82 * H, body, body, 8.0, 8.0),
            Part(_box(-0.1 * sx, 0.1 * sx, -0.09 * sy, 0.09 * sy), 0.85 * H, H, SKIN, (40, 50, 60), 20.0, 15.0),
        ]
    if tt.class_name == "vehicle":
        paint = VEHICLE_PAINT[int(rng.integers(len(VEHICLE_PAINT)))]
        wr = min(0.35, 0.22 * H)  # wheel radius
        wx, wy = 0.33 * L - wr, W / 2 - 0.13
        c = min(0.35, 0.1 * L)
        body_outline = np.array(
            [
                [L / 2, -W / 2 + c],
                [L / 2, W / 2 - c],
                [L / 2 - c, W / 2],
                [-L / 2 + c, W / 2],
                [-L / 2, W / 2 - c],
                [-L / 2, -W / 2 + c],
                [-L / 2 + c, -W / 2],
                [L / 2 - c, -W / 2],
            ],
            np.float64,
        )
        parts = [
            Part(_box(sx * wx - wr, sx * wx + wr, sy * wy - 0.12, sy * wy + 0.12), 0.0, 2 * wr, TYRE, TYRE, 25.0, 20.0)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
        parts.append(Part(body_outline, wr * 0.8, 0.6 * H, paint, paint, 6.0, 8.0))
        parts.append(Part(_box(-0.38 * L, 0.12 * L, -0.43 * W, 0.43 * W), 0.6 * H, H, GLASS, paint, 1.0, 7.0))
        return parts
    hull_c = BOAT_HULL[int(rng.integers(len(BOAT_HULL)))]
    hull = np.array([[L / 2, 0.0], [L / 4, W / 2], [-L / 2, W / 2], [-L / 2, -W / 2], [L / 4, -W / 2]], np.float64)
    return [
        Part(hull, 0.0, 0.45 * H, hull_c, (150, 170, 185), 2.0, 4.0),
        Part(
            _box(-0.42 * L, -0.32 * L, -0.15 * W, 0.15 * W), 0.45 * H, 0.7 * H, (60, 60, 60), (60, 60, 60), 30.0, 30.0
        ),
        Part(_box(-0.28 * L, 0.08 * L, -0.34 * W, 0.34 * W), 0.45 * H, H, GLASS, (235, 235, 235), 4.0, 6.0),
    ]


def local_to_ned(pts: F64, ground: F64, heading: float) -> F64:
    """Target-frame points (N, 3) x fwd, y right, z up -> NED (N, 3) given the ground point (3,) and heading (rad)."""
    ch, sh = math.cos(heading), math.sin(heading)
    n = ground[0] + pts[:, 0] * ch - pts[:, 1] * sh
    e = ground[1] + pts[:, 0] * sh + pts[:, 1] * ch
    d = ground[2] - pts[:, 2]
    return np.stack([n, e, d], axis=1)


def hull_points(tt: TargetTruth) -> F64:
    """The 3-D extent whose projection is the ground-truth box: 8 box corners, or a person's cylinder (32 points)."""
    L, W, H = tt.length_m, tt.width_m, tt.height_m
    if tt.class_name == "person":
        a = np.linspace(0, 2 * math.pi, 16, endpoint=False)
        ring = np.stack([0.5 * L * np.cos(a), 0.5 * W * np.sin(a)], axis=1)
    else:
        ring = np.array([[L / 2, W / 2], [L / 2, -W / 2], [-L / 2, -W / 2], [-L / 2, W / 2]])
    z = np.zeros((len(ring), 1))
    return np.vstack([np.hstack([ring, z]), np.hstack([ring, z + H])])


def box_of(tt: TargetTruth, ground: F64, cam: F64, r_cn: F64, k: Intrinsics) -> tuple[F64, float] | None:
    """Unclipped box (4,) x1 y1 x2 y2 px and nearest depth (m), or None when any part is behind the camera."""
    uv, depth = project(local_to_ned(hull_points(tt), ground, tt.heading), cam, r_cn, k)
    if depth.min() <= NEAR_M:
        return None
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]), float(depth.min())


def _fill(img: npt.NDArray[Any], uv: F64, colour: float | tuple[float, ...], aa: bool) -> None:
    pts = np.round((uv - 0.5) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillConvexPoly(img, pts, colour, cv2.LINE_AA if aa else cv2.LINE_8, _SHIFT)


def draw_target(
    img: npt.NDArray[Any],
    tt: TargetTruth,
    parts: list[Part],
    ground: F64,
    cam: F64,
    r_cn: F64,
    k: Intrinsics,
    shade: npt.NDArray[np.float64],
    tint: tuple[F64, float, float],
    thermal_ambient: float | None,
) -> None:
    """Draw one target's visible faces, parts far-to-near, lit by the sun direction ``shade`` (3,) NED.

    ``tint`` = (haze colour (3,) or haze temperature (1,), haze weight 0..1, brightness gain);
    ``thermal_ambient`` (K) selects thermal drawing (single channel, kelvin) instead of BGR.
    """
    haze_col, haze_w, gain = tint
    ch, sh = math.cos(tt.heading), math.sin(tt.heading)
    order = []
    for part in parts:
        c = part.outline.mean(axis=0)
        cn = local_to_ned(np.array([[c[0], c[1], 0.5 * (part.z0 + part.z1)]]), ground, tt.heading)[0]
        order.append((-float(np.sum((cn - cam) ** 2)), part))
    order.sort(key=lambda p: p[0])
    for _, part in order:
        kk = len(part.outline)
        ring = np.vstack(
            [np.hstack([part.outline, np.full((kk, 1), part.z0)]), np.hstack([part.outline, np.full((kk, 1), part.z1)])]
        )
        ned = local_to_ned(ring, ground, tt.heading)
        uv, _ = project(ned, cam, r_cn, k)
        # top face: normal up (-z NED), visible when the camera is above it
        faces: list[tuple[list[int], F64, bool]] = []
        if cam[2] < ned[kk, 2]:
            faces.append((list(range(kk, 2 * kk)), np.array([0.0, 0.0, -1.0]), True))
        centre = part.outline.mean(axis=0)
        for i in range(kk):
            j = (i + 1) % kk
            ex, ey = part.outline[j] - part.outline[i]
            nx, ny = ey, -ex  # perpendicular in the target frame
            mid = 0.5 * (part.outline[i] + part.outline[j])
            if (mid - centre) @ np.array([nx, ny]) < 0:
                nx, ny = -nx, -ny
            normal = np.array([nx * ch - ny * sh, nx * sh + ny * ch, 0.0])
            normal /= max(float(np.linalg.norm(normal)), 1e-12)
            if normal @ (cam - ned[i]) > 0:
                faces.append(([i, j, kk + j, kk + i], normal, False))
        for idx, normal, top in faces:
            light = float(shade @ normal)
            if thermal_ambient is not None:
                temp = thermal_ambient + (part.top_k if top else part.side_k) + 2.0 * max(light, 0.0)
                _fill(img, uv[idx], float(temp + (float(haze_col[0]) - temp) * haze_w), aa=False)
            else:
                base = np.array(part.top if top else part.side, np.float64) * gain * (0.55 + 0.45 * max(light, 0.0))
                col = base + (haze_col - base) * haze_w
                _fill(img, uv[idx], tuple(float(x) for x in col), aa=True)


def shadow_polygon(tt: TargetTruth, ground: F64, sun_ned: F64) -> F64:
    """Ground points (M, 3) NED whose convex hull is the target's shadow."""
    ring = hull_points(tt)
    base = local_to_ned(ring, ground, tt.heading)
    top = base[len(ring) // 2 :]
    # slide the top ring down along the sun direction onto the ground plane
    tilt = tt.height_m / max(-sun_ned[2], 0.05)
    shadow = top + sun_ned * tilt * -1.0
    shadow[:, 2] = ground[2]
    foot = base[: len(ring) // 2]
    return np.vstack([foot, shadow])


def wake_polygons(tt: TargetTruth, ground: F64) -> list[tuple[F64, int]]:
    """Ground quads (4, 3) NED of a moving boat's wake behind its stern, each with a foam strength 0..255
    that fades with distance."""
    L, W = tt.length_m, tt.width_m
    lw = min(4.0 * tt.speed_mps, 4.0 * L)
    out = []
    for i, strength in enumerate((150, 90, 40)):
        x0, x1 = -L / 2 - i * lw / 3, -L / 2 - (i + 1) * lw / 3
        y0, y1 = 0.4 * W - 0.08 * (x0 + L / 2), 0.4 * W - 0.08 * (x1 + L / 2)
        quad = np.array([[x0, y0, 0], [x1, y1, 0], [x1, -y1, 0], [x0, -y0, 0]], np.float64)
        out.append((local_to_ned(quad, ground, tt.heading), strength))
    return out


def fill_ground_polygon(
    mask: npt.NDArray[np.uint8], pts_ned: F64, cam: F64, r_cn: F64, k: Intrinsics, value: int = 255
) -> None:
    """Fill the image-space convex hull of ground points into ``mask`` if all are in front of the camera."""
    uv, depth = project(pts_ned, cam, r_cn, k)
    if depth.min() <= NEAR_M:
        return
    hull = cv2.convexHull(np.round((uv - 0.5) * (1 << _SHIFT)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, value, cv2.LINE_AA, _SHIFT)
