"""One frame's ST 0601 values from the pose store and the geolocator's view (camera model, orientation, ground).

The camera's orientation is ``edge.geo.orientation.camera_rotation`` (through ``GroundGeolocator.view``): the same
one the fixes are made with. ST 0601 gives the sensor's angles relative to the platform, so they are the Z-Y-X
angles of R_body^T @ R_cam_to_ned; the frame centre is where the optical axis meets the ground model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from edge.clips.klv import Sample
from edge.geo.camera_model import CameraModel
from edge.geo.orientation import euler_zyx, rot_zyx
from edge.geo.projection import Ground, Miss
from edge.geo.terrain import Terrain
from edge.geo.wgs84 import LocalNed
from edge.types import Pose

F64 = npt.NDArray[np.float64]
View = Callable[[Pose, int, int], tuple[CameraModel, F64, "Terrain | None"]]


def sample(
    pose: Pose, t_utc: float, width: int, height: int, view: View, target: tuple[float, float, float] | None = None
) -> Sample:
    """The ST 0601 values of a ``width`` x ``height`` frame captured at ``t_utc`` (POSIX s) seen from ``pose``."""
    cam, r, terrain = view(pose, width, height)
    rel_yaw, rel_pitch, rel_roll = euler_zyx(rot_zyx(pose.yaw, pose.pitch, pose.roll).T @ r)
    centre = None
    if terrain is not None:
        local = LocalNed(pose.lat, pose.lon, pose.alt)
        pts, status = Ground(terrain, local).intersect(np.zeros(3), r[:, 0])
        if status[0] == Miss.HIT:
            lat, lon, alt = local.to_geodetic(pts[0, 0], pts[0, 1], pts[0, 2])
            centre = (float(lat), float(lon), float(alt))
    deg = math.degrees
    return Sample(
        t_utc=t_utc,
        lat=pose.lat,
        lon=pose.lon,
        alt=pose.alt,
        heading=deg(pose.yaw) % 360.0,
        pitch=deg(pose.pitch),
        roll=deg(pose.roll),
        rel_azimuth=deg(rel_yaw) % 360.0,
        rel_elevation=deg(rel_pitch),
        rel_roll=deg(rel_roll) % 360.0,
        hfov=deg(2 * math.atan2(cam.width / 2.0, cam.fx)),
        vfov=deg(2 * math.atan2(cam.height / 2.0, cam.fy)),
        frame_center=centre,
        target=target,
    )
