"""The vehicle heading from one known landmark seen at one pixel (the crew's heading calibration).

The pixel's ray is turned into NED with the geolocator's camera model and rotation (``GroundGeolocator.view``)
for the vehicle at a heading of 0. Turning the vehicle by a yaw about the down axis adds that yaw to every ray's
azimuth (camera fixed to the body, or stabilised with its yaw following the heading), so the heading is the
landmark's bearing from the camera minus the ray's azimuth. Exact for any camera tilt; the landmark's height does
not enter (only azimuths do).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edge.geo.camera_model import CameraModel
from edge.geo.wgs84 import LocalNed

MIN_HORIZONTAL = 0.05  # a ray closer than ~3 deg to the vertical has no usable azimuth


def bearing_deg(lat0: float, lon0: float, lat1: float, lon1: float) -> tuple[float, float]:
    """(bearing deg from north towards east, ground distance m) from point 0 to point 1."""
    n, e, _ = LocalNed(lat0, lon0, 0.0).to_ned(lat1, lon1, 0.0)
    return math.degrees(math.atan2(float(e), float(n))) % 360.0, math.hypot(float(n), float(e))


def heading_from_landmark(
    camera: CameraModel,
    r_at_north: npt.NDArray[np.float64],
    at: tuple[float, float],
    landmark: tuple[float, float],
    pixel: tuple[float, float],
) -> tuple[float, float]:
    """(heading deg in [0, 360), landmark distance m).

    ``r_at_north`` (3, 3): camera to NED with the vehicle heading north; ``at``, ``landmark``: (lat, lon) deg of the
    camera and the landmark; ``pixel`` (u, v) px in ``camera``'s image. ValueError for a landmark at the camera or
    a pixel whose ray points (nearly) straight up or down.
    """
    ray = r_at_north @ camera.rays([pixel])[0]
    ray = ray / np.linalg.norm(ray)
    if math.hypot(ray[0], ray[1]) < MIN_HORIZONTAL:
        raise ValueError(f"pixel {pixel} looks (nearly) straight up or down: its azimuth says nothing")
    bearing, dist = bearing_deg(*at, *landmark)
    if dist < 1.0:
        raise ValueError("the landmark is where the camera is")
    return (bearing - math.degrees(math.atan2(ray[1], ray[0]))) % 360.0, dist
