"""The simulator's ground seen from straight above: an orthophoto (PNG) and its bounds, for the console's map.

Rendered by the same ground painter as the camera frames, from a camera 20 km up looking straight down with
north at the top, so the map shows the terrain the detections were seen on. The extent covers where the
platform and the targets go in the first ``span_s`` seconds, plus a margin.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from sim.render_camera import Intrinsics, pixel_rays
from sim.render_ground import GroundPainter, Look
from sim.world import World

HEIGHT_M = 20_000.0  # far enough up that relief hardly shifts (100 m of relief: 0.5 % of the half-width)
DOWN_IMAGE = np.column_stack([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # optical: down; right: east


def extent_m(world: World, span_s: float = 300.0, margin_m: float = 300.0) -> float:
    """Half-width (m) of a square around home that holds the platform and the targets for ``span_s`` s."""
    far = 0.0
    for t in np.linspace(0.0, span_s, 31):
        pts = [(p.lat, p.lon) for p in world.targets(float(t))]
        pose = world.true_platform(float(t))
        pts.append((pose.lat, pose.lon))
        for lat, lon in pts:
            n, e, _ = world.frame.to_ned(lat, lon, 0.0)
            far = max(far, abs(float(n)), abs(float(e)))
    return min(max(far + margin_m, 400.0), 8000.0)


def render_orthophoto(world: World, path: Path, size_px: int = 1024) -> tuple[float, float, float, float]:
    """Write the ground under the scenario as a PNG at ``path``; return its bounds (south, west, north, east) deg."""
    half = extent_m(world)
    px_m = 2.0 * half / size_px
    k = Intrinsics(size_px, size_px, HEIGHT_M / px_m, size_px / 2.0, size_px / 2.0)
    ground_down = world.home[2] - world.ground_alt(world.home[0], world.home[1])
    cam = np.array([0.0, 0.0, ground_down - HEIGHT_M])
    painter = GroundPainter(world, world.scenario.ground.surface, world.seed)
    geometry = painter.geometry(cam, pixel_rays(k, DOWN_IMAGE), DOWN_IMAGE, k)
    sc = world.scenario.scene
    look = Look(math.radians(sc.sun_azimuth_deg), math.radians(sc.sun_elevation_deg), 1e12, 1.0, 288.15)
    img = np.clip(painter.day(0.0, geometry, look), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    south, west, _ = world.frame.to_geodetic(-half, -half, 0.0)
    north, east, _ = world.frame.to_geodetic(half, half, 0.0)
    return float(south), float(west), float(north), float(east)
