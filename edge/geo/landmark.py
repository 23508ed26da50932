"""The vehicle heading from one known landmark seen at one pixel (the crew's heading calibration).

The pixel's ray is turned into NED with the same camera model and rotations as the geolocator, for a body yaw of
0 (``cam_to_ned``: body roll/pitch, camera angles relative to the body, mount). Turning the body by a yaw about
the down axis adds that yaw to every ray's azimuth, so the heading is the landmark's bearing from the camera
minus the ray's azimuth. Exact for any camera tilt; the landmark's height does not enter (only azimuths do).
"""

from __future__ import annotations

import math

import numpy as np

from edge.geo.camera_model import CameraModel, cam_to_ned
from edge.geo.wgs84 import LocalNed
from edge.types import Pose

MIN_HORIZONTAL = 0.05  # a ray closer than ~3 deg to the vertical has no usable azimuth


def bearing_deg(lat0: float, lon0: float, lat1: float, lon1: float) -> tuple[float, float]:
    """(bearing deg from north towards east, ground distance m) from point 0 to point 1."""
    n, e, _ = LocalNed(lat0, lon0, 0.0).to_ned(lat1, lon1, 0.0)
    return math.degrees(math.atan2(float(e), float(n))) % 360.0, math.hypot(float(n), float(e))


def heading_from_landmark(
    camera: CameraModel, mount: np.ndarray, attitude: Pose, landmark: tuple[float, float], pixel: tuple[float, float]
) -> tuple[float, float]:
    """(heading deg in [0, 360), landmark distance m).

    ``attitude``: the camera's position (lat, lon) and the body roll/pitch and camera angles ("body" frame), its
    yaw ignored; ``mount`` (3, 3) the geolocator's mount rotation; ``pixel`` (u, v) px in ``camera``'s image.
    ValueError for a landmark at the camera or a pixel whose ray points (nearly) straight up or down.
    """
    level = Pose(
        t_mono=0.0,
        lat=attitude.lat,
        lon=attitude.lon,
        alt=attitude.alt,
        roll=attitude.roll,
        pitch=attitude.pitch,
        yaw=0.0,
        cam_roll=attitude.cam_roll,
        cam_pitch=attitude.cam_pitch,
        cam_yaw=attitude.cam_yaw,
        cam_frame="body",
    )
    ray = cam_to_ned(level, mount) @ camera.rays([pixel])[0]
    ray = ray / np.linalg.norm(ray)
    if math.hypot(ray[0], ray[1]) < MIN_HORIZONTAL:
        raise ValueError(f"pixel {pixel} looks (nearly) straight up or down: its azimuth says nothing")
    bearing, dist = bearing_deg(attitude.lat, attitude.lon, *landmark)
    if dist < 1.0:
        raise ValueError("the landmark is where the camera is")
    return (bearing - math.degrees(math.atan2(ray[1], ray[0]))) % 360.0, dist
