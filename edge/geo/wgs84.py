"""WGS-84 latitude/longitude/altitude <-> a local flat-earth NED frame (docs/CONVENTIONS.md).

The frame is the tangent plane at an origin (lat0, lon0, alt0): north and east are arc lengths on the ellipsoid
scaled by the meridian radius M and the parallel radius N·cos(lat0) (both raised by alt0), down = alt0 - alt.
Good to centimetres within ~20 km of the origin; the earth's curvature is *not* in it (see
``curvature_drop``, which the ground models add where it matters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

A_M = 6378137.0  # semi-major axis, m
E2 = 6.69437999014e-3  # first eccentricity squared
MEAN_RADIUS_M = 6371008.8
REFRACTION_K = 0.13  # standard atmospheric refraction coefficient (light bends down, the horizon looks further)

F64 = npt.NDArray[np.float64]
ArrayLike = float | F64


def radii(lat_deg: float, alt_m: float = 0.0) -> tuple[float, float]:
    """(meridian radius M + alt, parallel radius (N + alt)·cos(lat)) in metres per radian at ``lat_deg``."""
    s = math.sin(math.radians(lat_deg))
    w = math.sqrt(1.0 - E2 * s * s)
    m = A_M * (1.0 - E2) / w**3 + alt_m
    n = A_M / w + alt_m
    return m, n * math.cos(math.radians(lat_deg))


def curvature_drop(dist_m: ArrayLike, refraction_k: float = REFRACTION_K) -> F64:
    """How far (m) the earth's surface falls below the tangent plane at horizontal distance ``dist_m`` (m).

    Uses the effective radius R / (1 - k) that accounts for refraction: 1 km -> 0.068 m, 10 km -> 6.8 m.
    """
    r_eff = MEAN_RADIUS_M / (1.0 - refraction_k)
    d = np.asarray(dist_m, np.float64)
    return np.asarray(d * d / (2.0 * r_eff), np.float64)


@dataclass(frozen=True)
class LocalNed:
    """Flat-earth NED frame with its origin at (lat0, lon0) in degrees and alt0 in metres AMSL."""

    lat0: float
    lon0: float
    alt0: float

    def to_ned(self, lat: ArrayLike, lon: ArrayLike, alt: ArrayLike) -> tuple[F64, F64, F64]:
        """lat/lon (deg), alt (m AMSL), arrays broadcast -> north, east, down (m) from the origin."""
        m, p = radii(self.lat0, self.alt0)
        dlon = (np.asarray(lon, np.float64) - self.lon0 + 180.0) % 360.0 - 180.0
        north = np.radians(np.asarray(lat, np.float64) - self.lat0) * m
        east = np.radians(dlon) * p
        return north, east, self.alt0 - np.asarray(alt, np.float64)

    def to_geodetic(self, north: ArrayLike, east: ArrayLike, down: ArrayLike) -> tuple[F64, F64, F64]:
        """north, east, down (m) -> lat (deg), lon (deg, wrapped to [-180, 180)), alt (m AMSL)."""
        m, p = radii(self.lat0, self.alt0)
        lat = self.lat0 + np.degrees(np.asarray(north, np.float64) / m)
        lon = (self.lon0 + np.degrees(np.asarray(east, np.float64) / p) + 180.0) % 360.0 - 180.0
        return lat, lon, self.alt0 - np.asarray(down, np.float64)
