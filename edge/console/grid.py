"""The camera's ground grid: lines of equal range and bearing on the ground, and the horizon, in image pixels.

Projected through the camera model, rotation and ground model the geolocator uses (``GroundGeolocator.view``), so
a crew sees at once when the mast height, tilt, field of view or mounting angle in the config is wrong: the 100 m
line lies where something 100 m away stands. Ranges are horizontal distances from the camera (m), bearings true
(deg from north). Pixels: u right, v down, origin at the image's top-left corner (``edge.geo.camera_model``).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.geo.camera_model import CameraModel
from edge.geo.projection import Ground
from edge.geo.terrain import Terrain
from edge.geo.wgs84 import LocalNed
from edge.types import Pose

F64 = npt.NDArray[np.float64]
RANGES_M = (25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
BEARING_STEPS_DEG = (5, 10, 15, 30)  # the widest that puts at least two bearing lines across the image
MARGIN = 1.0  # points further than this many image sizes outside the image break a line


def project(cam: CameraModel, r: F64, vecs: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Pixels (N, 2) of NED vectors (N, 3) from the camera (points or directions) and which are usable.

    r: camera-to-NED rotation (3, 3); unusable: behind the camera or far outside the image.
    """
    g = vecs @ r  # rows: R^T v, camera frame (x optical axis, y right, z down)
    ahead = g[:, 0] > 1e-3 * np.linalg.norm(g, axis=1)
    x = np.where(ahead, g[:, 0], 1.0)
    if cam.dist:
        k = np.array([[cam.fx, 0.0, cam.cx - 0.5], [0.0, cam.fy, cam.cy - 0.5], [0.0, 0.0, 1.0]])
        obj = np.column_stack([g[:, 1] / x, g[:, 2] / x, np.ones(len(g))])
        uv, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), k, np.array(cam.dist, np.float64))
        uv = np.asarray(uv, np.float64).reshape(-1, 2) + 0.5
    else:
        uv = np.column_stack([cam.cx + cam.fx * g[:, 1] / x, cam.cy + cam.fy * g[:, 2] / x])
    w, h = cam.width, cam.height
    inside = (uv[:, 0] > -MARGIN * w) & (uv[:, 0] < (1 + MARGIN) * w)
    inside &= (uv[:, 1] > -MARGIN * h) & (uv[:, 1] < (1 + MARGIN) * h)
    return np.asarray(uv, np.float64), ahead & inside & np.all(np.isfinite(uv), axis=1)


def _polylines(pts: list[list[float]], ok: npt.NDArray[np.bool_]) -> list[list[list[float]]]:
    """Runs of consecutive usable points of ``pts`` as polylines of at least two points."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    return [pts[a:b] for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True) if b - a >= 2]


def ground_grid(cam: CameraModel, r: F64, terrain: Terrain | None, pose: Pose, max_range_m: float) -> dict[str, Any]:
    """``{"w", "h", "lines": [{"kind": "range" | "bearing" | "horizon", "label", "pts": [[u, v], ...]}]}``.

    The ground is ``terrain`` under each grid point (nothing but the horizon without one). All points are
    projected in one go (a grid costs ~1 ms: it is drawn for every frame the live view gets).
    """
    # circles start behind the camera, so that the part in view is one unbroken line
    behind = math.atan2(r[1, 0], r[0, 0]) + math.pi
    az = behind + np.radians(np.arange(0.0, 361.0, 2.0))
    lines: list[tuple[str, str, int]] = [("horizon", "horizon", len(az))]  # (kind, label, points)
    horizon = np.column_stack([np.cos(az), np.sin(az), np.zeros(len(az))])
    vecs = [horizon]
    ranges = [x for x in RANGES_M if x <= max_range_m] if terrain is not None else []
    north, east = [], []
    for rng in ranges:
        north.append(rng * np.cos(az))
        east.append(rng * np.sin(az))
        lines.append(("range", f"{rng / 1000:g} km" if rng >= 1000 else f"{rng:g} m", len(az)))
    if ranges:
        dist = np.geomspace(min(ranges) / 2, max(ranges), 48)
        hfov = 2.0 * math.degrees(math.atan2(cam.width / 2.0, cam.fx))
        step = max([s for s in BEARING_STEPS_DEG if s <= hfov / 2.0], default=BEARING_STEPS_DEG[0])
        for b in range(0, 360, step):
            north.append(dist * math.cos(math.radians(b)))
            east.append(dist * math.sin(math.radians(b)))
            lines.append(("bearing", f"{b:03d}°", len(dist)))
    if terrain is not None and north:
        n, e = np.concatenate(north), np.concatenate(east)
        lat, lon, _ = LocalNed(pose.lat, pose.lon, pose.alt).to_geodetic(n, e, 0.0)
        down = pose.alt - terrain.height(lat, lon)
        vecs.append(np.column_stack([n, e, np.where(down > 0, down, np.nan)]))
    uv, ok = project(cam, r, np.concatenate(vecs))
    px = np.round(uv, 1).tolist()  # 0.1 px
    out: list[dict[str, Any]] = []
    start = 0
    for kind, label, count in lines:
        out += [
            {"kind": kind, "label": label, "pts": pts}
            for pts in _polylines(px[start : start + count], ok[start : start + count])
        ]
        start += count
    return {"w": cam.width, "h": cam.height, "lines": out}


def footprint(
    cam: CameraModel, r: F64, terrain: Terrain | None, pose: Pose, max_range_m: float, per_edge: int = 8
) -> list[list[float]]:
    """The camera's ground footprint as [[lat, lon], ...] (deg) around the image border, clockwise from the
    top-left corner; rays that miss the ground (sky, beyond range) end at ``max_range_m`` along their bearing."""
    if terrain is None:
        return []
    w, h = cam.width, cam.height
    t = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    uv = np.concatenate(
        [
            np.column_stack([t * w, np.zeros_like(t)]),
            np.column_stack([np.full_like(t, w), t * h]),
            np.column_stack([(1 - t) * w, np.full_like(t, h)]),
            np.column_stack([np.zeros_like(t), (1 - t) * h]),
        ]
    )
    dirs = cam.rays(uv) @ r.T
    local = LocalNed(pose.lat, pose.lon, pose.alt)
    pts, _ = Ground(terrain, local, max_range_m).intersect(np.zeros(3), dirs)
    horiz = dirs[:, :2] / np.maximum(np.linalg.norm(dirs[:, :2], axis=1, keepdims=True), 1e-9)
    ne = np.where(np.isfinite(pts[:, :2]), pts[:, :2], horiz * max_range_m)
    lat, lon, _ = local.to_geodetic(ne[:, 0], ne[:, 1], 0.0)
    return np.round(np.column_stack([lat, lon]), 7).tolist()
