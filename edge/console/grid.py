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
from edge.geo.terrain import Terrain
from edge.geo.wgs84 import LocalNed
from edge.types import Pose

F64 = npt.NDArray[np.float64]
RANGES_M = (25.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
BEARING_STEP_DEG = 30
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


def _polylines(uv: F64, ok: npt.NDArray[np.bool_]) -> list[list[list[float]]]:
    """Runs of consecutive usable points as polylines of at least two points, rounded to 0.1 px."""
    out, run = [], []
    for p, good in zip(uv, ok, strict=True):
        if good:
            run.append([round(float(p[0]), 1), round(float(p[1]), 1)])
        elif run:
            out.append(run)
            run = []
    if run:
        out.append(run)
    return [line for line in out if len(line) >= 2]


def ground_grid(cam: CameraModel, r: F64, terrain: Terrain | None, pose: Pose, max_range_m: float) -> dict[str, Any]:
    """``{"w", "h", "lines": [{"kind": "range" | "bearing" | "horizon", "label", "pts": [[u, v], ...]}]}``.

    The ground is ``terrain`` under each grid point (nothing but the horizon without one).
    """
    lines: list[dict[str, Any]] = []
    # circles start behind the camera, so that the part in view is one unbroken line
    behind = math.atan2(r[1, 0], r[0, 0]) + math.pi
    az = behind + np.radians(np.arange(0.0, 360.5, 1.0))
    horizon = np.column_stack([np.cos(az), np.sin(az), np.zeros(len(az))])
    for pts in _polylines(*project(cam, r, horizon)):
        lines.append({"kind": "horizon", "label": "horizon", "pts": pts})
    if terrain is None:
        return {"w": cam.width, "h": cam.height, "lines": lines}
    local = LocalNed(pose.lat, pose.lon, pose.alt)

    def on_ground(north: F64, east: F64) -> F64:
        lat, lon, _ = local.to_geodetic(north, east, 0.0)
        down = pose.alt - terrain.height(lat, lon)
        return np.column_stack([north, east, np.where(down > 0, down, np.nan)])

    ranges = [x for x in RANGES_M if x <= max_range_m]
    for rng in ranges:
        vec = on_ground(rng * np.cos(az), rng * np.sin(az))
        label = f"{rng / 1000:g} km" if rng >= 1000 else f"{rng:g} m"
        for pts in _polylines(*project(cam, r, vec)):
            lines.append({"kind": "range", "label": label, "pts": pts})
    if ranges:
        dist = np.geomspace(min(ranges) / 2, max(ranges), 48)
        for b in range(0, 360, BEARING_STEP_DEG):
            rad = math.radians(b)
            vec = on_ground(dist * math.cos(rad), dist * math.sin(rad))
            for pts in _polylines(*project(cam, r, vec)):
                lines.append({"kind": "bearing", "label": f"{b:03d}°", "pts": pts})
    return {"w": cam.width, "h": cam.height, "lines": lines}
